"""The evaluation of one run, section by section, for any domain.

:class:`Evaluator` computes every section from the domain's generic interface (samples, views,
validity); the domain evaluators of :mod:`toposci.evaluation.domains` add what only they have
(molecule metrics, shifted sets, classifiers). A section returns a :class:`SectionResult`:
JSON-ready numbers, and arrays for the figures.

* **generation** — validity of ``samples`` prior samples (``reasons`` counts each failure) and
  the domain's sample metrics.
* **topology** — topology fidelity: Vietoris–Rips H0/H1 diagrams of held-out data and of
  generated samples (same number of points, same space: the domain's views unless the domain
  says otherwise), compared by bottleneck, 1-Wasserstein and landscape L2 distances.
* **interpolation** — :func:`~toposci.metrics.latent.interpolate` between pairs of held-out
  samples along linear and spherical paths (quality index) and
  :func:`~toposci.metrics.topology.path_topology` along them (mean over the path).
* **ood** — negative ELBO and Mahalanobis scores of held-out and shifted samples and their
  ROC AUC (:func:`~toposci.metrics.latent.roc_auc`).
* **robustness** — success rates of latent PGD attacks
  (:func:`~toposci.metrics.latent.latent_attack`) on the codes of held-out samples: the
  :class:`Displacement` attack for every domain, plus the domain's own criteria.

A section that does not apply raises :class:`SectionSkipped` with the reason, which the report
prints.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from toposci.evaluation.context import RunContext
from toposci.metrics.latent import (
    PATH_KINDS,
    AttackCriterion,
    ValidityLoss,
    encode_all,
    interpolate,
    latent_attack,
    ood_scores,
    roc_auc,
)
from toposci.metrics.topology import path_topology, set_diagrams
from toposci.topology.diagrams import Diagrams
from toposci.topology.distances import (
    bottleneck_distance,
    landscape_distance,
    wasserstein_distance,
)

__all__ = ["Displacement", "Evaluator", "SectionResult", "SectionSkipped", "ValidityEvaluator",
           "compare_diagrams", "jsonable"]

logger = logging.getLogger(__name__)

HOMOLOGY_DIMS = (0, 1)


class SectionSkipped(Exception):
    """A section does not apply to a run; the message says why."""


@dataclass
class SectionResult:
    """What a section computed: JSON-ready ``metrics`` and ``arrays`` for the figures."""

    metrics: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    """``value`` with tensors and numpy scalars as Python numbers, tuples as lists and NaN /
    infinity as None (JSON has neither)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Tensor | np.ndarray):
        return jsonable(value.tolist()) if value.ndim else jsonable(value.item())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def compare_diagrams(a: Mapping[int, np.ndarray], b: Mapping[int, np.ndarray], *,
                     num_landscapes: int = 5, resolution: int = 100) -> dict[str, float]:
    """Bottleneck, 1-Wasserstein and landscape L2 distances between two sets' finite diagrams
    ``{dim: (M, 2)}`` (the numbers of :func:`~toposci.metrics.topology.diagram_distances` and
    :func:`~toposci.metrics.topology.path_topology`)."""
    out = {}
    for d in sorted(a):
        da, db = (Diagrams.from_arrays([x[d]], dim=d, dtype=torch.float64) for x in (a, b))
        out[f"bottleneck_H{d}"] = float(bottleneck_distance(da, db)[0])
        out[f"wasserstein_H{d}"] = float(wasserstein_distance(da, db, order=1.0)[0])
        out[f"landscape_H{d}"] = float(landscape_distance(
            da, db, num_landscapes=num_landscapes, resolution=resolution)[0])
    return out


class Displacement:
    """Attack success: the output view moves by more than ``threshold`` (every code eligible).

    The objective is the squared distance between the attacked and the clean output views.

    Args:
        view: output -> ``(B, F)``.
        threshold: the distance that counts, ``> 0``.
    """

    def __init__(self, view: Callable[[Any], Tensor], threshold: float) -> None:
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        self.view = view
        self.threshold = float(threshold)

    def objective(self, clean: Any, attacked: Any) -> Tensor:
        return (self.view(attacked) - self.view(clean).detach()).square().sum(dim=1)

    def outcome(self, clean: Any, attacked: Any) -> tuple[Tensor, Tensor]:
        moved = (self.view(attacked) - self.view(clean)).norm(dim=1)  # (B,)
        return torch.ones_like(moved, dtype=torch.bool), moved > self.threshold


class Evaluator:
    """The sections of one run's evaluation (module docstring), generic over the domain.

    Subclasses override the hooks: :meth:`generation_metrics`, :meth:`topology_distances`,
    :meth:`shifted_sets`, :meth:`attack_criteria` and :meth:`strip_extra`.

    Args:
        ctx: the opened run.
    """

    primary_attack = "displacement"
    """The attack whose success rate the robustness claim reads."""
    background_points = 300
    """Held-out data views stored for the interpolation figure's point cloud (0: none)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run(self, section: str) -> SectionResult:
        """Compute one section (a name of :data:`~toposci.evaluation.options.SECTIONS`)."""
        return getattr(self, section)()

    def _require_encoder(self) -> None:
        reason = self.ctx.no_encoder_reason
        if reason is not None:
            raise SectionSkipped(reason)

    def _held_out(self, n: int, purpose: str) -> Tensor:
        val = self.ctx.data.val
        if len(val) < 2:
            raise SectionSkipped(f"the held-out split has {len(val)} samples")
        return self.ctx.pick(len(val), n, purpose)

    # ------------------------------------------------------------------ generation
    def generation(self) -> SectionResult:
        """Validity (per decoding, with reasons) of the prior samples and the domain's metrics."""
        generated = self.ctx.samples.generated
        metrics = {"n": len(generated.items), "validity": generated.valid_fraction,
                   "validity_by_correction": generated.validity_by_correction(),
                   "reasons": generated.reasons()}
        metrics.update(self.generation_metrics())
        return SectionResult(jsonable(metrics))

    def generation_metrics(self) -> dict[str, Any]:
        """The domain's metrics of the prior samples beyond validity."""
        return dict(self.ctx.domain.sample_metrics(self.ctx.samples.generated))

    # ------------------------------------------------------------------ topology
    def topology(self) -> SectionResult:
        """Rips H0/H1 diagrams of held-out data and of samples and the distances between them;
        arrays ``data_H{d}`` and ``samples_H{d}`` ``(M, 2)``."""
        data, samples, space = self.topology_distances()
        diagrams = {name: set_diagrams(dist, homology_dims=HOMOLOGY_DIMS)
                    for name, dist in (("data", data), ("samples", samples))}
        metrics = {"n": data.shape[0], "space": space,
                   **compare_diagrams(diagrams["data"], diagrams["samples"])}
        arrays = {f"{name}_H{d}": dgm[d] for name, dgm in diagrams.items() for d in dgm}
        return SectionResult(jsonable(metrics), arrays)

    def topology_distances(self) -> tuple[Tensor, Tensor, str]:
        """Distance matrices ``(n, n)`` of held-out data and of generated samples, and a
        description of the space. Default: Euclidean distances of the domain's views of
        ``n = min(topology_samples, held-out, samples)`` of each."""
        views = self.ctx.samples.views
        idx = self._held_out(min(self.ctx.options.topology_samples, views.shape[0]),
                             "topology data")
        data = self.ctx.data_views(self.ctx.data.val, idx).detach().cpu().double()  # (n, F)
        pick = self.ctx.pick(views.shape[0], idx.numel(), "topology samples")
        samples = views[pick].double()  # (n, F)
        if idx.numel() < 3:
            raise SectionSkipped(f"only {idx.numel()} points per set; the diagrams need 3")
        return (torch.cdist(data, data), torch.cdist(samples, samples),
                "Euclidean distance of the domain's topology view")

    # ------------------------------------------------------------------ interpolation
    def interpolation(self) -> SectionResult:
        """Quality index and path topology of linear and spherical paths between ``B`` pairs of
        held-out samples; arrays: the first paths' views ``(S, T, F)`` and validity
        ``(S, T)``, the path-topology curves ``(T,)`` and the data views drawn behind them."""
        self._require_encoder()
        ctx, opts = self.ctx, self.ctx.options
        val = ctx.data.val
        P = min(opts.interpolation_pairs, len(val) // 3)
        if P < 2:
            raise SectionSkipped(f"the held-out split has {len(val)} samples; interpolation "
                                 "needs 6 (two pairs and two reference samples)")
        idx = self._held_out(3 * P, "interpolation")  # (3P,)
        start, end, reference = (ctx.collate(val, part) for part in idx.split(P))
        ref_views = ctx.domain.data_view(reference).detach().cpu()  # (P, F)
        metrics: dict[str, Any] = {"pairs": P, "steps": opts.interpolation_steps}
        arrays: dict[str, np.ndarray] = {"reference_views": ref_views.float().numpy()}
        if self.background_points:
            cloud = ctx.pick(len(val), self.background_points, "interpolation background")
            arrays["background_views"] = ctx.data_views(val, cloud).detach().cpu().float() \
                .numpy()  # (n, F)
        S = min(opts.strip_pairs, P)
        for kind in PATH_KINDS:
            result = interpolate(ctx.model, start, end, steps=opts.interpolation_steps,
                                 kind=kind, domain=ctx.domain)
            views = result.views.detach().cpu()  # (P, T, F)
            along = path_topology(ref_views, views, homology_dims=HOMOLOGY_DIMS)
            metrics[kind] = {**result.summary(),
                             **{f"path_{k}": float(v.mean()) for k, v in along.items()}}
            arrays |= {f"{kind}_path_{k}": v for k, v in along.items()}
            arrays[f"{kind}_strip_views"] = views[:S].float().numpy()  # (S, T, F)
            if result.valid is not None:
                arrays[f"{kind}_strip_valid"] = result.valid[:S].numpy()
            metrics[kind] |= self.strip_extra(result.codes[:S])
        return SectionResult(jsonable(metrics), arrays)

    def strip_extra(self, codes: Tensor) -> dict[str, Any]:
        """JSON-ready extras of the figure's strips (``codes (S, T, d)``); none by default."""
        return {}

    # ------------------------------------------------------------------ OOD
    def ood(self) -> SectionResult:
        """OOD scores of held-out and shifted samples and their AUC per shifted set and score;
        arrays ``<set>__<score>`` ``(n,)`` (``in`` for the held-out samples)."""
        self._require_encoder()
        ctx, n = self.ctx, self.ctx.options.ood_samples
        in_idx = self._held_out(n, "ood held-out")
        shifted = self.shifted_sets(in_idx)
        train = ctx.data.train
        ref_idx = ctx.pick(len(train), n, "ood reference")
        reference = encode_all(ctx.model, ctx.batches(train, ref_idx))  # (n_ref, d)
        g = ctx.generator("ood elbo")
        scores = {"in": ood_scores(ctx.model, ctx.batches(ctx.data.val, in_idx),
                                   reference_codes=reference, generator=g)}
        for name, (samples, indices) in shifted.items():
            scores[name] = ood_scores(ctx.model, ctx.batches(samples, indices),
                                      reference_codes=reference, generator=g)
        metrics: dict[str, Any] = {"n_in": in_idx.numel(), "n_reference": ref_idx.numel(),
                                   "sets": {}}
        for name in shifted:
            metrics["sets"][name] = {"n": int(scores[name]["mahalanobis"].numel()), **{
                f"auc_{kind}": roc_auc(scores["in"][kind], scores[name][kind])
                for kind in scores["in"]}}
        metrics["auc_mean"] = {kind: float(np.mean([s[f"auc_{kind}"]
                                                    for s in metrics["sets"].values()]))
                               for kind in scores["in"]}
        arrays = {f"{name}__{kind}": s.numpy() for name, by_kind in scores.items()
                  for kind, s in by_kind.items()}
        return SectionResult(jsonable(metrics), arrays)

    def shifted_sets(self, in_idx: Tensor) -> dict[str, tuple[Any, Tensor]]:
        """Shifted sets by name: ``(samples, indices)`` the domain's ``collate`` takes.

        Args:
            in_idx: the held-out samples scored as in-distribution (for sets made from them).
        """
        raise SectionSkipped(f"no shifted (out-of-distribution) set is defined for the "
                             f"{self.ctx.domain.name} domain")

    # ------------------------------------------------------------------ robustness
    def robustness(self) -> SectionResult:
        """Success rates of PGD attacks on the codes of held-out samples, one per criterion."""
        self._require_encoder()
        ctx, opts = self.ctx, self.ctx.options
        idx = self._held_out(opts.attack_codes, "attack codes")
        codes = encode_all(ctx.model, ctx.batches(ctx.data.val, idx)).clone()  # (n, d)
        views = ctx.data_views(ctx.data.val, idx).detach().double()  # (n, F)
        spread = float(torch.pdist(views).median()) if views.shape[0] > 1 else 0.0
        if not spread > 0:
            raise SectionSkipped("the held-out views coincide; no displacement scale")
        threshold = opts.displacement_fraction * spread
        criteria = {"displacement": Displacement(ctx.domain.output_view, threshold),
                    **self.attack_criteria()}
        metrics: dict[str, Any] = {"displacement_threshold": threshold}
        for name, criterion in criteria.items():
            result = latent_attack(ctx.model, codes, criterion, epsilon=opts.attack_epsilon,
                                   steps=opts.attack_steps, norm=opts.attack_norm,
                                   generator=ctx.generator(f"attack {name}"))
            metrics[name] = result.summary()
        metrics["primary"] = self.primary_attack
        return SectionResult(jsonable(metrics))

    def attack_criteria(self) -> dict[str, AttackCriterion]:
        """The domain's attack criteria besides :class:`Displacement`."""
        return {}


class ValidityEvaluator(Evaluator):
    """Domains whose samples can be invalid: the validity attack is the primary one."""

    primary_attack = "validity"

    def attack_criteria(self) -> dict[str, AttackCriterion]:
        return {"validity": ValidityLoss(self.ctx.domain)}
