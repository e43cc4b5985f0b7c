"""Latent-space behaviour of a trained VAE: interpolation, OOD detection, adversarial robustness.

Everything here works for any :class:`~toposci.models.TopoVAE` and its domain: codes are the
posterior means (``model.encode``), outputs come from ``model.decoder``, reconstruction
errors from the model's :class:`~toposci.models.ModelIO` (``model.io``, the domain itself for
models built from a recipe), and validity from the domain's ``generate``.

**Interpolation quality** (:func:`interpolate`). For pairs of test samples ``(x_a, x_b)`` with
codes ``(z_a, z_b)``, ``T`` evenly spaced points of a latent path are decoded:

* ``"linear"``: ``z(t) = (1 - t) z_a + t z_b``.
* ``"spherical"``, the *geodesic* path: spherical linear interpolation (slerp),
  ``z(t) = sin((1 - t) w) / sin(w) z_a + sin(t w) / sin(w) z_b`` with ``w`` the angle between
  ``z_a`` and ``z_b`` (White, "Sampling Generative Networks", arXiv:1609.04468, 2016). Under
  the Gaussian prior ``N(0, I_d)`` the codes concentrate near the sphere of radius
  ``sqrt(d)``, and the straight chord between two of them passes through the low-norm
  interior, which the prior rarely produces (its midpoint has norm ``~ sqrt(d / 2)`` for
  orthogonal codes); slerp follows the great circle between codes of equal norm — the
  geodesic of that sphere — and otherwise keeps the norm between the two end norms without
  that dip. Where ``sin(w)`` vanishes (parallel or opposite codes, or a zero code) the pair
  falls back to the linear path.

The quality numbers (:meth:`InterpolationResult.summary`) are the endpoints' reconstruction
error (the domain's negative log-likelihood of ``x_a`` under the decoding of ``z_a``, and of
``x_b``), the fraction of decoded path points the domain calls valid (all ``T``, and the
``T - 2`` interior ones), and the smoothness of the decoded path in the domain's output view
(``(F,)`` vectors): the step distances ``s_t = ||v(t_{k+1}) - v(t_k)||``, their mean, the
*step ratio* ``max_t s_t / mean_t s_t`` (1 for an evenly paced path, large when the decoding
jumps) and the *length ratio* ``sum_t s_t / ||v(1) - v(0)||`` (1 for a straight decoded path),
each averaged over pairs. The topology of the decoded paths is
:func:`~toposci.metrics.topology.path_topology`.

**OOD detection** (:func:`ood_scores`, :func:`roc_auc`). Two scores per sample, larger meaning
"more unusual": the negative ELBO ``E_q[-log p(x | z)] + KL(q(z | x) || N(0, I))`` (β = 1,
whatever β trained the model; the expectation a Monte Carlo mean, in the likelihood units of
the domain's reconstruction loss), and the Mahalanobis distance of the posterior mean to a
Gaussian fitted to the training codes. :func:`roc_auc` is the probability that a shifted
sample scores above an in-distribution one (ties count 1/2). The shifted sets are in
:mod:`toposci.metrics.ood_sets`.

**Adversarial robustness** (:func:`latent_attack`). Each code ``z`` is attacked by projected
gradient ascent over ``delta`` with ``||delta|| <= epsilon`` (L2 or L-infinity, in latent
units; Madry et al., ICLR 2018) on a differentiable *objective* of the clean output
``G(z)`` and the attacked one ``G(z + delta)``; a non-differentiable *outcome* then decides,
code by code, whether the attack is eligible and whether it succeeded. The **success rate** is
``#{eligible z : outcome(G(z), G(z + delta*)) succeeded} / #{eligible z}``, with ``delta*``
the perturbation of largest objective found — a lower bound of the true rate, PGD being a
local search. The criteria:

* :class:`ClassChange`: every code is eligible; success when a classifier's predicted class of
  the attacked output differs from that of the clean one (objective: cross-entropy of the
  attacked output against the clean class).
* :class:`ValidityLoss`: codes whose clean output is valid are eligible; success when the
  attacked output is invalid (objective: squared distance of the output views, as validity
  has no gradient).
* :class:`PropertyChange`: codes with a finite clean property are eligible; success when
  ``|p(G(z + delta)) - p(G(z))| > threshold`` (objective: the squared change of ``p`` when
  ``p`` is differentiable, else the squared distance of the output views).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from toposci._validation import check_batch, check_same_batch

__all__ = ["ATTACK_NORMS", "PATH_KINDS", "AttackCriterion", "AttackResult", "ClassChange",
           "InterpolationResult", "PropertyChange", "ValidityLoss", "domain_batches",
           "encode_all", "interpolate", "latent_attack", "latent_path", "mahalanobis_distance",
           "negative_elbo", "ood_scores", "pgd_latent", "roc_auc"]

PATH_KINDS = ("linear", "spherical")
"""The latent paths of :func:`latent_path`."""
ATTACK_NORMS = ("l2", "linf")
"""The perturbation balls of :func:`pgd_latent`."""

_PARALLEL = 1e-6  # sin(angle) below which slerp falls back to the linear path


# ---------------------------------------------------------------------- batches and codes
def domain_batches(domain: Any, samples: Any, *, batch_size: int = 256) -> Iterator[Any]:
    """Consecutive batches of a domain's samples, as the domain collates them.

    Args:
        domain: a :class:`~toposci.domains.base.GenerativeDomain` (its ``collate(samples,
            indices)``).
        samples: what the domain's ``load`` returns as ``train`` / ``val`` (``len`` must work).
        batch_size: samples per batch; the last batch may be smaller.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(samples)
    if n == 0:
        raise ValueError("no samples to batch")
    for start in range(0, n, batch_size):
        yield domain.collate(samples, torch.arange(start, min(start + batch_size, n)))


def encode_all(model: nn.Module, batches: Iterable[Any]) -> Tensor:
    """Posterior means of all samples of ``batches``, concatenated: ``(N, d)``."""
    codes = [model.encode(batch) for batch in batches]
    if not codes:
        raise ValueError("no batches to encode")
    return torch.cat(codes)


# ---------------------------------------------------------------------- interpolation
def latent_path(start: Tensor, end: Tensor, *, steps: int = 11, kind: str = "linear") -> Tensor:
    """``T = steps`` evenly spaced points (ends included) of latent paths (module docstring).

    Args:
        start: ``(B, d)`` codes at ``t = 0``.
        end: ``(B, d)`` codes at ``t = 1``.
        steps: ``T >= 2``.
        kind: one of :data:`PATH_KINDS`.

    Returns:
        ``(B, T, d)`` codes; ``[:, 0] == start`` and ``[:, -1] == end`` up to rounding.
    """
    if kind not in PATH_KINDS:
        raise ValueError(f"unknown path kind {kind!r}; valid: {', '.join(PATH_KINDS)}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    start = check_batch(start, "start", ranks=(2,), dims_named="(B, d)")
    end = check_batch(end, "end", ranks=(2,), dims_named="(B, d)")
    if start.shape != end.shape:
        raise ValueError(f"start {tuple(start.shape)} and end {tuple(end.shape)} differ")
    t = torch.linspace(0.0, 1.0, steps, dtype=start.dtype, device=start.device)  # (T,)
    a, b, t = start.unsqueeze(1), end.unsqueeze(1), t.view(1, -1, 1)  # (B,1,d),(B,1,d),(1,T,1)
    linear = (1.0 - t) * a + t * b  # (B, T, d)
    if kind == "linear":
        return linear
    norms = start.norm(dim=1) * end.norm(dim=1)  # (B,)
    cos = ((start * end).sum(dim=1) / norms.clamp_min(torch.finfo(start.dtype).tiny))
    omega = cos.clamp(-1.0, 1.0).arccos().view(-1, 1, 1)  # (B, 1, 1)
    sin = omega.sin()
    curved = (sin.abs() > _PARALLEL) & (norms.view(-1, 1, 1) > 0)  # (B, 1, 1)
    safe = torch.where(curved, sin, torch.ones_like(sin))
    slerp = (((1.0 - t) * omega).sin() * a + (t * omega).sin() * b) / safe  # (B, T, d)
    return torch.where(curved, slerp, linear)


@dataclass
class InterpolationResult:
    """Decoded latent paths between pairs of samples (module docstring: the definitions).

    Attributes:
        kind: the path kind.
        codes: ``(B, T, d)`` the latent paths.
        views: ``(B, T, F)`` the decoded paths in the domain's output view.
        valid: ``(B, T)`` validity of each decoded point, or None without a domain.
        endpoint_error: ``(B, 2)`` reconstruction loss of ``x_a`` and ``x_b`` from the
            decodings of their own codes.
    """

    kind: str
    codes: Tensor
    views: Tensor
    valid: Tensor | None
    endpoint_error: Tensor

    @property
    def step_distances(self) -> Tensor:
        """``(B, T - 1)`` distances between consecutive decoded points."""
        return (self.views[:, 1:] - self.views[:, :-1]).norm(dim=2)

    def summary(self) -> dict[str, float]:
        """Scalar quality numbers, averaged over pairs (NaN validity without a domain).

        ``endpoint_error``, ``validity`` (all points), ``interior_validity`` (points
        ``1 .. T - 2``; NaN when ``T = 2``), ``mean_step``, ``step_ratio`` (1 for a path of
        zero length) and ``length_ratio`` (pairs whose decoded ends coincide are left out;
        NaN when all are).
        """
        steps = self.step_distances.double()  # (B, T - 1)
        mean = steps.mean(dim=1)  # (B,)
        ratio = torch.where(mean > 0, steps.amax(dim=1) / mean.clamp_min(1e-300),
                            torch.ones_like(mean))
        chord = (self.views[:, -1] - self.views[:, 0]).double().norm(dim=1)  # (B,)
        apart = chord > 0
        valid = self.valid.double() if self.valid is not None else None
        return {
            "endpoint_error": float(self.endpoint_error.double().mean()),
            "validity": math.nan if valid is None else float(valid.mean()),
            "interior_validity": math.nan if valid is None or valid.shape[1] < 3
            else float(valid[:, 1:-1].mean()),
            "mean_step": float(steps.mean()),
            "step_ratio": float(ratio.mean()),
            "length_ratio": float((steps.sum(dim=1)[apart] / chord[apart]).mean())
            if bool(apart.any()) else math.nan,
        }


@torch.no_grad()
def interpolate(model: nn.Module, start_batch: Any, end_batch: Any, *, steps: int = 11,
                kind: str = "linear", domain: Any = None) -> InterpolationResult:
    """Decode latent paths between the codes of two batches of samples, pair by pair.

    Args:
        model: a :class:`~toposci.models.TopoVAE` (``encode``, ``decoder``, ``io``).
        start_batch: ``B`` samples (``x_a``), collated as the model takes them.
        end_batch: ``B`` other samples (``x_b``).
        steps: ``T``, decoded points per path, ends included.
        kind: one of :data:`PATH_KINDS`.
        domain: the model's domain, for validity (``generate(output).validity``); None
            leaves ``valid`` out.

    Returns:
        :class:`InterpolationResult` (its ``summary()`` gives the quality index).
    """
    io = model.io
    B = io.batch_size(start_batch)
    if io.batch_size(end_batch) != B:
        raise ValueError(f"start_batch and end_batch must hold the same number of samples, "
                         f"got {B} and {io.batch_size(end_batch)}")
    z_a, z_b = model.encode(start_batch), model.encode(end_batch)  # (B, d) each
    endpoint_error = torch.stack([io.reconstruction_loss(model.decoder(z), x)
                                  for z, x in ((z_a, start_batch), (z_b, end_batch))], dim=1)
    codes = latent_path(z_a, z_b, steps=steps, kind=kind)  # (B, T, d)
    d = codes.shape[2]
    output = model.decoder(codes.reshape(B * steps, d))  # B * T decoded points
    views = io.output_view(output).reshape(B, steps, -1)  # (B * T, F) -> (B, T, F)
    valid = None
    if domain is not None:
        flags = [bool(v) for v in domain.generate(output).validity]  # (B * T,)
        valid = torch.tensor(flags, dtype=torch.bool).reshape(B, steps)  # (B, T)
    return InterpolationResult(kind, codes, views, valid, endpoint_error)


# ---------------------------------------------------------------------- OOD detection
@torch.no_grad()
def negative_elbo(model: nn.Module, batch: Any, *, n_samples: int = 1,
                  generator: torch.Generator | None = None) -> Tensor:
    """``(B,)`` ``-ELBO = mean_s L_rec(x, G(z_s)) + KL(q(z | x) || N(0, I))``, ``z_s ~ q``.

    ``L_rec`` is the domain's reconstruction loss (negative log-likelihood up to a constant);
    the KL term is exact and weighted 1, whatever β trained the model.

    Args:
        model: a :class:`~toposci.models.TopoVAE`.
        batch: ``B`` samples.
        n_samples: Monte Carlo samples ``S`` of ``q(z | x)``.
        generator: CPU generator of the draws (the global RNG if None).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    mean, logvar = model.posterior(batch)  # (B, d) each
    kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)  # (B,)
    rec = torch.zeros_like(kl)
    for _ in range(n_samples):
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        rec += model.io.reconstruction_loss(model.decoder(mean + noise * (0.5 * logvar).exp()),
                                            batch)
    return rec / n_samples + kl


def mahalanobis_distance(codes: Tensor, reference: Tensor, *, ridge: float = 1e-6) -> Tensor:
    """Mahalanobis distance of codes to the Gaussian fitted to reference codes.

    ``sqrt((z - m)^T (S + r I)^(-1) (z - m))`` with ``m`` and ``S`` the mean and unbiased
    covariance of ``reference`` and ``r = ridge * mean(diag(S))``, which keeps the solve
    defined when some latent directions are (nearly) unused.

    Args:
        codes: ``(B, d)`` codes to score.
        reference: ``(N, d)`` codes of the training data, ``N >= 2``.
        ridge: relative diagonal loading, ``>= 0`` (0 needs a full-rank ``S``).

    Returns:
        ``(B,)`` distances, float64.
    """
    codes = check_batch(codes, "codes", ranks=(2,), dims_named="(B, d)").double()
    reference = check_batch(reference, "reference", ranks=(2,), dims_named="(N, d)").double()
    N, d = reference.shape
    if N < 2 or codes.shape[1] != d:
        raise ValueError(f"reference must be (N >= 2, {codes.shape[1]}), got {(N, d)}")
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    mean = reference.mean(dim=0)  # (d,)
    centred = reference - mean  # (N, d)
    cov = centred.T @ centred / (N - 1)  # (d, d)
    cov = cov + ridge * cov.diagonal().mean() * torch.eye(d, dtype=cov.dtype, device=cov.device)
    diff = codes - mean  # (B, d)
    solved = torch.linalg.solve(cov, diff.T).T  # (B, d) = diff S^-1
    return (diff * solved).sum(dim=1).clamp_min(0.0).sqrt()


def ood_scores(model: nn.Module, batches: Iterable[Any], *, reference_codes: Tensor,
               n_samples: int = 1, generator: torch.Generator | None = None,
               ridge: float = 1e-6) -> dict[str, Tensor]:
    """Both OOD scores of every sample of ``batches`` (larger = more unusual).

    Args:
        model: a :class:`~toposci.models.TopoVAE`.
        batches: batches of samples (e.g. :func:`domain_batches`).
        reference_codes: ``(N, d)`` posterior means of the training set
            (:func:`encode_all`), the Gaussian of the Mahalanobis score.
        n_samples, generator: of :func:`negative_elbo`.
        ridge: of :func:`mahalanobis_distance`.

    Returns:
        ``{"negative_elbo": (n,), "mahalanobis": (n,)}`` float64 on the CPU.
    """
    elbo, maha = [], []
    for batch in batches:
        elbo.append(negative_elbo(model, batch, n_samples=n_samples, generator=generator))
        maha.append(mahalanobis_distance(model.encode(batch), reference_codes, ridge=ridge))
    if not elbo:
        raise ValueError("no batches to score")
    return {"negative_elbo": torch.cat(elbo).double().cpu(),
            "mahalanobis": torch.cat(maha).cpu()}


def roc_auc(in_scores: Tensor | np.ndarray | Sequence[float],
            out_scores: Tensor | np.ndarray | Sequence[float]) -> float:
    """Area under the ROC curve of telling shifted samples (positives) by a larger score.

    ``P(s_out > s_in) + P(s_out = s_in) / 2`` over all pairs, from the Mann–Whitney
    statistic: with ``R`` the sum of the average ranks of the shifted scores in the pooled
    sample, ``AUC = (R - n_out (n_out + 1) / 2) / (n_in n_out)``.

    Args:
        in_scores: ``(n_in,)`` scores of in-distribution samples.
        out_scores: ``(n_out,)`` scores of shifted samples.

    Returns:
        AUC in ``[0, 1]``; 0.5 for uninformative scores.
    """
    from scipy.stats import rankdata

    parts = []
    for name, s in (("in_scores", in_scores), ("out_scores", out_scores)):
        s = s.detach().cpu().double().numpy() if isinstance(s, Tensor) else np.asarray(
            s, dtype=np.float64)
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D array, got shape {s.shape}")
        if not np.isfinite(s).all():
            raise ValueError(f"{name} contains NaN or infinite scores")
        parts.append(s)
    n_in, n_out = parts[0].size, parts[1].size
    ranks = rankdata(np.concatenate(parts))  # average ranks, 1-based
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2.0
    return float(u / (n_in * n_out))


# ---------------------------------------------------------------------- adversarial attacks
class AttackCriterion(Protocol):
    """What a latent attack pushes on and what counts as its success."""

    def objective(self, clean: Any, attacked: Any) -> Tensor:
        """``(B,)`` differentiable in ``attacked`` (a decoder output); PGD maximizes it."""

    def outcome(self, clean: Any, attacked: Any) -> tuple[Tensor, Tensor]:
        """``(eligible, success)``, two ``(B,)`` bool tensors."""


class ClassChange:
    """Success: the classifier's predicted class of the output changes.

    Args:
        classifier: module from output views ``(B, F)`` to logits ``(B, C)``.
        view: output -> ``(B, F)`` (e.g. ``model.io.output_view``).
    """

    def __init__(self, classifier: nn.Module, view: Callable[[Any], Tensor]) -> None:
        self.classifier = classifier
        self.view = view

    def objective(self, clean: Any, attacked: Any) -> Tensor:
        label = self.classifier(self.view(clean)).argmax(dim=1).detach()  # (B,)
        return nn.functional.cross_entropy(self.classifier(self.view(attacked)), label,
                                           reduction="none")

    def outcome(self, clean: Any, attacked: Any) -> tuple[Tensor, Tensor]:
        before = self.classifier(self.view(clean)).argmax(dim=1)
        after = self.classifier(self.view(attacked)).argmax(dim=1)
        return torch.ones_like(before, dtype=torch.bool), before != after


class ValidityLoss:
    """Success: a valid output becomes invalid (eligible: codes with a valid clean output).

    Args:
        domain: ``output_view(output) -> (B, F)`` and ``generate(output).validity``.
    """

    def __init__(self, domain: Any) -> None:
        self.domain = domain

    def objective(self, clean: Any, attacked: Any) -> Tensor:
        return _view_displacement(self.domain.output_view, clean, attacked)

    def outcome(self, clean: Any, attacked: Any) -> tuple[Tensor, Tensor]:
        before, after = ([bool(v) for v in self.domain.generate(out).validity]
                         for out in (clean, attacked))
        before, after = torch.tensor(before), torch.tensor(after)
        return before, before & ~after


class PropertyChange:
    """Success: a property of the output moves by more than ``threshold``.

    Args:
        prop: output -> ``(B,)`` float property; NaN where undefined (e.g. an invalid
            molecule), which makes a clean code ineligible and an attacked one a success.
        threshold: the change that counts, ``> 0``.
        differentiable: ``prop`` has gradients; otherwise the objective is the squared
            distance of the output views and ``view`` is needed.
        view: output -> ``(B, F)``.
    """

    def __init__(self, prop: Callable[[Any], Tensor], threshold: float, *,
                 differentiable: bool = True,
                 view: Callable[[Any], Tensor] | None = None) -> None:
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if not differentiable and view is None:
            raise ValueError("a non-differentiable property needs view= for the objective")
        self.prop = prop
        self.threshold = float(threshold)
        self.differentiable = differentiable
        self.view = view

    def objective(self, clean: Any, attacked: Any) -> Tensor:
        if self.differentiable:
            return (self.prop(attacked) - self.prop(clean).detach()).square()
        return _view_displacement(self.view, clean, attacked)

    def outcome(self, clean: Any, attacked: Any) -> tuple[Tensor, Tensor]:
        before, after = self.prop(clean).detach(), self.prop(attacked).detach()
        eligible = torch.isfinite(before)
        moved = ~torch.isfinite(after) | ((after - before).abs() > self.threshold)
        return eligible, eligible & moved


def _view_displacement(view: Callable[[Any], Tensor], clean: Any, attacked: Any) -> Tensor:
    """``(B,)`` squared distance between the views of the attacked and the clean output."""
    return (view(attacked) - view(clean).detach()).square().sum(dim=1)


def _project(delta: Tensor, epsilon: float, norm: str) -> Tensor:
    """``delta (B, d)`` moved into the ``epsilon``-ball of ``norm`` (nearest point)."""
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    length = delta.norm(dim=1, keepdim=True)  # (B, 1)
    return delta * (epsilon / length.clamp_min(epsilon))


def _random_start(shape: torch.Size, epsilon: float, norm: str, generator: torch.Generator | None,
                  like: Tensor) -> Tensor:
    """Uniform draws from the ``epsilon``-ball, ``(B, d)``."""
    B, d = shape
    if norm == "linf":
        u = torch.rand(B, d, generator=generator, dtype=like.dtype)
        return ((2.0 * u - 1.0) * epsilon).to(like.device)
    direction = torch.randn(B, d, generator=generator, dtype=like.dtype)
    direction = direction / direction.norm(dim=1, keepdim=True)
    radius = torch.rand(B, 1, generator=generator, dtype=like.dtype) ** (1.0 / d)
    return (direction * radius * epsilon).to(like.device)


def pgd_latent(decoder: nn.Module, codes: Tensor, objective: Callable[[Any, Any], Tensor], *,
               epsilon: float, steps: int = 20, step_size: float | None = None,
               norm: str = "l2", random_start: bool = True,
               generator: torch.Generator | None = None) -> Tensor:
    """Projected gradient ascent on latent codes: the perturbation of largest objective.

    Each step moves ``delta`` by ``step_size`` along the normalized gradient (L2) or the
    gradient's sign (L-infinity) and projects it back into the ball; the iterate with the
    largest objective (per code, the start included) is returned. The decoder's parameters
    receive no gradient.

    Args:
        decoder: codes ``(B, d)`` -> output.
        codes: ``(B, d)`` clean codes ``z``.
        objective: ``(clean_output, attacked_output) -> (B,)`` to maximize.
        epsilon: radius of the ball, ``> 0``, in latent units.
        steps: gradient steps, ``>= 1``.
        step_size: default ``2.5 epsilon / steps`` (Madry et al.).
        norm: one of :data:`ATTACK_NORMS`.
        random_start: start from a uniform draw in the ball instead of ``delta = 0`` (needed
            when the objective's gradient vanishes at ``delta = 0``, as a squared change does).
        generator: CPU generator of the random start.

    Returns:
        ``(B, d)`` attacked codes ``z + delta``, ``||delta|| <= epsilon``.
    """
    if norm not in ATTACK_NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(ATTACK_NORMS)}")
    if not (math.isfinite(epsilon) and epsilon > 0) or steps < 1:
        raise ValueError(f"epsilon must be finite and > 0 and steps >= 1, got {epsilon}, "
                         f"{steps}")
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    if not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size}")
    codes = check_batch(codes, "codes", ranks=(2,), dims_named="(B, d)").detach()
    with torch.no_grad():
        clean = decoder(codes)
    delta = _random_start(codes.shape, epsilon, norm, generator, codes) if random_start \
        else torch.zeros_like(codes)
    best, best_value = delta.clone(), None
    with torch.enable_grad():
        for step in range(steps + 1):
            delta.requires_grad_(True)
            value = objective(clean, decoder(codes + delta))  # (B,)
            value_now = value.detach()
            if best_value is None:
                best_value = value_now.clone()
            better = value_now > best_value
            best[better], best_value[better] = delta.detach()[better], value_now[better]
            if step == steps:
                break
            (grad,) = torch.autograd.grad(value.sum(), delta)  # (B, d)
            if norm == "linf":
                move = grad.sign()
            else:
                move = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            delta = _project(delta.detach() + step_size * move, epsilon, norm)
    return codes + best


@dataclass
class AttackResult:
    """Outcome of :func:`latent_attack` (module docstring: the definition).

    Attributes:
        epsilon, norm, steps: the attack.
        eligible: ``(B,)`` codes the criterion counts.
        success: ``(B,)`` eligible codes whose attacked output met the criterion.
        perturbation: ``(B,)`` norm (of the attack's kind) of each ``delta``.
    """

    epsilon: float
    norm: str
    steps: int
    eligible: Tensor
    success: Tensor
    perturbation: Tensor

    @property
    def success_rate(self) -> float:
        """Successes over eligible codes (NaN when none is eligible)."""
        n = int(self.eligible.sum())
        return int(self.success.sum()) / n if n else math.nan

    def summary(self) -> dict[str, float | int | str]:
        return {"epsilon": self.epsilon, "norm": self.norm, "steps": self.steps,
                "n_codes": int(self.eligible.numel()), "n_eligible": int(self.eligible.sum()),
                "success_rate": self.success_rate}


def latent_attack(model: nn.Module, codes: Tensor, criterion: AttackCriterion, *,
                  epsilon: float, steps: int = 20, step_size: float | None = None,
                  norm: str = "l2", random_start: bool = True,
                  generator: torch.Generator | None = None) -> AttackResult:
    """Attack each code within an ``epsilon``-ball and count successes (module docstring).

    Args:
        model: a :class:`~toposci.models.TopoVAE` (its ``decoder``), in eval mode.
        codes: ``(B, d)`` codes, e.g. posterior means of test samples or prior draws.
        criterion: :class:`ClassChange`, :class:`ValidityLoss`, :class:`PropertyChange` or
            any :class:`AttackCriterion`.
        epsilon, steps, step_size, norm, random_start, generator: of :func:`pgd_latent`.

    Returns:
        :class:`AttackResult`.
    """
    decoder = model.decoder
    attacked = pgd_latent(decoder, codes, criterion.objective, epsilon=epsilon, steps=steps,
                          step_size=step_size, norm=norm, random_start=random_start,
                          generator=generator)
    with torch.no_grad():
        eligible, success = criterion.outcome(decoder(codes), decoder(attacked))
    eligible, success = eligible.cpu().bool(), success.cpu().bool()
    check_same_batch(eligible, codes, "criterion outcome", "codes")
    delta = (attacked - codes).detach()
    size = delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)
    return AttackResult(float(epsilon), norm, steps, eligible, success & eligible, size.cpu())
