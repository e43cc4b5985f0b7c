"""Vectorizations of persistence diagrams: landscapes, images, Betti curves, silhouettes.

Every function takes a batch of :class:`~toposci.topology.diagrams.Diagrams` (values ``(B, M, 2)``
and mask ``(B, M)``) and returns one batched tensor, computed in torch on the diagrams' device and
dtype with no loop over diagrams or points. Masked (padding) rows contribute nothing, whatever
values they hold; an empty diagram (all mask ``False``) gives zeros.

Each function agrees with its ``gudhi.representations`` counterpart (``Landscape``,
``PersistenceImage``, ``BettiCurve``, ``Silhouette``) fitted on the same batch, to 1e-6 in
float64 (tested). Where GUDHI fits a range to the data (``sample_range=None`` /
``im_range=None``) the range is fitted on the whole batch: the minimum over all real points of
all diagrams to the maximum over all of them, exactly as GUDHI's ``fit`` on the list of diagrams.
The fitted range is treated as a constant (detached): gradients flow through the diagram points,
not through where the grid lies.

Diagrams with infinite bars raise a :class:`ValueError`; drop or cap them first
(:meth:`Diagrams.drop_infinite`, :meth:`Diagrams.cap_infinite`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
from torch import Tensor

from toposci.topology.diagrams import Diagrams

__all__ = ["betti_curves", "landscapes", "persistence_images", "silhouettes"]

_SQRT2 = math.sqrt(2.0)

WeightFn = Callable[[Tensor], Tensor]

# Number of tent values per block in the landscape selection, by device type.
_BLOCK_ELEMENTS = {"cpu": 2**19, "default": 2**25}

# Integer dtypes whose order on the bit patterns of non-negative floats is the float order.
_ORDERED_INT = {
    torch.float64: torch.int64,
    torch.float32: torch.int32,
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}

_WEIGHTS: dict[str, WeightFn] = {
    "constant": lambda bp: torch.ones_like(bp[..., 1]),
    "linear": lambda bp: bp[..., 1],
    "quadratic": lambda bp: bp[..., 1] ** 2,
}


# ---------------------------------------------------------------------- input checks and grids
def _check_diagrams(diagrams: Diagrams, what: str) -> None:
    """Raise ValueError unless ``diagrams`` is a non-empty batch of finite float diagrams."""
    if not isinstance(diagrams, Diagrams):
        raise ValueError(f"{what} expects a Diagrams batch, got {type(diagrams).__name__}")
    if diagrams.batch_size == 0:
        raise ValueError(f"{what} got an empty batch of diagrams (B = 0)")
    if not diagrams.values.is_floating_point():
        raise ValueError(
            f"{what} needs floating-point diagram values, got {diagrams.values.dtype}"
        )
    finite = torch.isfinite(diagrams.values).all(dim=-1) | ~diagrams.mask  # (B, M)
    if not bool(finite.all()):
        diagrams.check_finite(what)
        raise ValueError(f"{what} got a diagram (H{diagrams.dim}) with NaN births or deaths")


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_range(value: tuple[float, ...], name: str, length: int) -> tuple[float, ...]:
    """Check a user range of ``length`` finite numbers given as (lo, hi) pairs with lo <= hi."""
    if len(value) != length:
        raise ValueError(f"{name} must have {length} numbers, got {value!r}")
    out = tuple(float(v) for v in value)
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite, got {value!r}; use None to fit it to the data")
    for lo, hi in zip(out[::2], out[1::2]):
        if lo > hi:
            raise ValueError(f"{name} must list (min, max) pairs with min <= max, got {value!r}")
    return out


def _masked_values(diagrams: Diagrams) -> Tensor:
    """``(B, M, 2)`` values with padding rows set to 0 (their gradient is 0)."""
    return diagrams.values.masked_fill(~diagrams.mask.unsqueeze(-1), 0.0)


def _masked_extreme(pairs: list[tuple[Tensor, Tensor]], *, largest: bool) -> Tensor:
    """Max (or min) over the real entries of every ``(x, mask)`` pair, detached; 0 if none."""
    fill = -math.inf if largest else math.inf
    flat = torch.cat([x.detach().masked_fill(~mask, fill).reshape(-1) for x, mask in pairs])
    if flat.numel() == 0:
        return flat.new_zeros(())
    out = flat.amax() if largest else flat.amin()
    return torch.where(torch.isfinite(out), out, torch.zeros_like(out))


def _linspace(lo: Tensor, hi: Tensor, num: int) -> Tensor:
    """``num`` evenly spaced values from ``lo`` to ``hi`` (inclusive), as ``numpy.linspace``.

    Shapes:
        lo, hi: 0-dim; returns ``(num,)`` on their device and dtype.
    """
    if num == 1:
        return lo.reshape(1)
    steps = torch.arange(num, dtype=lo.dtype, device=lo.device)  # (num,)
    grid = steps * ((hi - lo) / (num - 1)) + lo
    grid[-1] = hi
    return grid


def _fitted_sample_range(*batches: Diagrams) -> tuple[Tensor, Tensor]:
    """The range GUDHI fits for landscapes, Betti curves and silhouettes.

    Args:
        batches: one or more batches; the range is fitted on all their real points together.

    Returns:
        ``(min birth, max death)`` over every real point, as detached 0-dim tensors (0 and 0 when
        there is no point at all).
    """
    lo = _masked_extreme([(d.births, d.mask) for d in batches], largest=False)
    hi = _masked_extreme([(d.deaths, d.mask) for d in batches], largest=True)
    return lo, hi


def _sample_grid(
    batches: tuple[Diagrams, ...], resolution: int, sample_range: tuple[float, float] | None
) -> Tensor:
    """The ``(T,)`` grid of ``gudhi.representations`` with ``keep_endpoints=False``.

    A given ``sample_range`` is sampled at ``T`` evenly spaced points including both ends. With
    ``None`` the range is fitted (:func:`_fitted_sample_range`) and sampled at ``T + 2`` points of
    which the two ends are dropped (every vectorization is 0 there).
    """
    ref = batches[0].values
    if sample_range is None:
        lo, hi = _fitted_sample_range(*batches)
        return _linspace(lo, hi, resolution + 2)[1:-1]
    lo_f, hi_f = _check_range(sample_range, "sample_range", 2)
    lo, hi = (torch.tensor(v, dtype=ref.dtype, device=ref.device) for v in (lo_f, hi_f))
    return _linspace(lo, hi, resolution)


def _tents(values: Tensor, mask: Tensor, grid: Tensor) -> Tensor:
    """Tent function ``max(0, min(t - b, d - t))`` of every point at every grid value.

    Shapes:
        values: ``(B, M, 2)``; mask: ``(B, M)``; grid: ``(T,)``; returns ``(B, T, M)``, 0 on
        masked rows.
    """
    births = values[..., 0].unsqueeze(1)  # (B, 1, M)
    deaths = values[..., 1].unsqueeze(1)  # (B, 1, M)
    t = grid.view(1, -1, 1)  # (1, T, 1)
    tents = torch.minimum(t - births, deaths - t).clamp_min(0.0)  # (B, T, M)
    return tents.masked_fill(~mask.unsqueeze(1), 0.0)


# ---------------------------------------------------------------------- landscapes
def landscapes(
    diagrams: Diagrams,
    *,
    num_landscapes: int = 5,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
) -> Tensor:
    """Persistence landscapes sampled on an even grid, as ``gudhi.representations.Landscape``.

    The k-th landscape at ``t`` is the k-th largest tent value ``max(0, min(t - b, d - t))`` over
    the points ``(b, d)`` of a diagram, times ``sqrt(2)`` (GUDHI's scaling: the tent measured
    along the diagonal). Levels beyond the number of points are 0.

    Args:
        diagrams: batch of finite diagrams.
        num_landscapes: number of levels ``K``.
        resolution: number of samples ``T``.
        sample_range: ``(t_min, t_max)`` sampled with both ends included; ``None`` fits it to the
            batch (min birth to max death over all diagrams) and, like GUDHI, samples ``T``
            interior points of ``T + 2`` evenly spaced ones.

    Returns:
        ``(B, K, T)`` landscapes; ``out.reshape(B, K * T)`` is GUDHI's vector.

    Shapes:
        diagrams.values: ``(B, M, 2)``, diagrams.mask: ``(B, M)`` -> ``(B, K, T)``.

    Differentiable in the diagram values (almost everywhere: not at kinks of the tents or where
    two tents cross). Which point gives the k-th largest tent is found without autograd
    (``topk`` over the points; for float32 on a little-endian machine, ``K`` rounds of an
    integer ``amax``, twice as fast on CPU); the chosen tents are then recomputed from the
    gathered points, so the backward pass costs ``O(B T K)``.
    """
    _check_diagrams(diagrams, "landscapes")
    k_levels = _check_positive_int(num_landscapes, "num_landscapes")
    resolution = _check_positive_int(resolution, "resolution")
    grid = _sample_grid((diagrams,), resolution, sample_range)  # (T,)
    return _landscapes_on_grid(diagrams, grid, k_levels)


def _landscapes_on_grid(diagrams: Diagrams, grid: Tensor, k_levels: int) -> Tensor:
    """Landscapes of checked diagrams on a given ``(T,)`` grid; returns ``(B, K, T)``."""
    values = _masked_values(diagrams)
    B, M, _ = values.shape
    T = grid.shape[0]
    k = min(k_levels, M)
    if k == 0:
        return values.new_zeros(B, k_levels, T)
    with torch.no_grad():
        top = _top_tent_indices(values, grid, k)  # (B, T, k)
    flat = top.reshape(B, T * k)  # (B, T*k)
    births = torch.gather(values[..., 0], 1, flat).view(B, T, k)
    deaths = torch.gather(values[..., 1], 1, flat).view(B, T, k)
    t = grid.view(1, T, 1)
    # Padding rows sit at (0, 0), so their recomputed tent min(t, -t) clamps to 0.
    levels = torch.minimum(t - births, deaths - t).clamp_min(0.0) * _SQRT2  # (B, T, k)
    levels = levels.transpose(1, 2)  # (B, k, T)
    if k < k_levels:
        levels = torch.cat([levels, levels.new_zeros(B, k_levels - k, T)], dim=1)  # (B, K, T)
    return levels


def _top_tent_indices(values: Tensor, grid: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` largest tents at every grid value (no autograd).

    Works through the batch in blocks of about ``_BLOCK_ELEMENTS`` tent values so that the
    ``(block, T, M)`` scratch tensors stay in cache on CPU (3-4x faster than one big tensor) and
    memory stays bounded; the blocks are batches of diagrams, not single ones. The chosen
    tents are recomputed by the caller, so only the indices matter here.

    Shapes:
        values: ``(B, M, 2)`` with padding rows at ``(0, 0)`` (their tents are 0);
        grid: ``(T,)``; returns ``(B, T, k)`` indices into ``M`` (``k <= M``).
    """
    B, M, _ = values.shape
    T = grid.shape[0]
    budget = _BLOCK_ELEMENTS.get(values.device.type, _BLOCK_ELEMENTS["default"])
    block = min(B, max(1, budget // (T * M)))
    t = grid.view(1, T, 1)
    mid = ((values[..., 0] + values[..., 1]) * 0.5).unsqueeze(1)  # (B, 1, M)
    # "+ 0.0" turns a -0.0 half-lifetime into +0.0, so that no tent below comes out as -0.0.
    half = ((values[..., 1] - values[..., 0]) * 0.5 + 0.0).unsqueeze(1)  # (B, 1, M)
    tents = values.new_empty(block, T, M)  # scratch, reused by every block
    packs = values.dtype == torch.float32 and sys.byteorder == "little"
    select = _ByRounds(block, T, M, k, values.device) if packs else None
    indices = torch.empty(B, T, k, dtype=torch.long, device=values.device)
    for start in range(0, B, block):
        stop = min(start + block, B)
        scratch = tents[: stop - start]
        torch.sub(t, mid[start:stop], out=scratch)
        scratch.abs_()
        torch.sub(half[start:stop], scratch, out=scratch)  # the tents, before clamping at 0
        if select is not None:
            select(scratch, indices[start:stop])
        else:
            # Non-negative IEEE floats sort like their bit patterns read as signed integers,
            # and integer topk is faster on CPU.
            keys = scratch.clamp_min_(0.0).view(_ORDERED_INT.get(values.dtype, values.dtype))
            indices[start:stop] = keys.topk(k, dim=-1).indices
    return indices


class _ByRounds:
    """Top-``k`` indices of float32 rows by ``k`` rounds of integer ``amax`` (2x CPU ``topk``).

    Each value is packed with its column into one int64 key: the high word holds the clamped
    tent's bits (non-negative floats order like their bits), the low word the column. The max
    key gives the largest tent and where it is (ties go to the larger column); the round then
    knocks that key out by setting its high word to -1, below every clamped tent (the tents are
    never -0.0, whose bits would read as a negative integer: ``half`` is normalised to +0.0), and
    the next round finds the next one. ``amax`` is a plain vectorised reduction, several times
    faster than ``topk`` for small ``k``.

    Shapes:
        called with tents ``(n, T, M)`` (``n <= block``) and fills ``out`` ``(n, T, k)``.
    """

    def __init__(self, block: int, T: int, M: int, k: int, device: torch.device) -> None:
        self.k = k
        # (block, T, M, 2) int32 words read as (block, T, M) int64 keys (little-endian: word 0 low)
        self.words = torch.empty(block, T, M, 2, dtype=torch.int32, device=device)
        self.words[..., 0] = torch.arange(M, dtype=torch.int32, device=device)

    def __call__(self, tents: Tensor, out: Tensor) -> None:
        words = self.words[: tents.shape[0]]
        high = words[..., 1]  # (n, T, M) int32 view
        torch.clamp_min(tents, 0.0, out=high.view(torch.float32))
        keys = words.view(torch.int64).squeeze(-1)  # (n, T, M)
        for level in range(self.k):
            column = out[..., level : level + 1]  # (n, T, 1)
            torch.bitwise_and(keys.amax(dim=-1, keepdim=True), 0xFFFFFFFF, out=column)
            high.scatter_(-1, column, -1)


# ---------------------------------------------------------------------- persistence images
def persistence_images(
    diagrams: Diagrams,
    *,
    resolution: tuple[int, int] = (20, 20),
    bandwidth: float = 1.0,
    weight: str | WeightFn = "constant",
    im_range: tuple[float, float, float, float] | None = None,
) -> Tensor:
    """Persistence images, as ``gudhi.representations.PersistenceImage``.

    Each point ``(b, d)`` is moved to birth-persistence coordinates ``(x, y) = (b, d - b)`` and
    spreads ``w(x, y) * N((x, y), bandwidth^2 I)`` (a normalised isotropic Gaussian density,
    no pixel-area factor) which is sampled at the pixel centres ``x_i = linspace(x_min, x_max,
    W)[i]``, ``y_j = linspace(y_min, y_max, H)[j]``. Because the Gaussian factorises over the two
    axes an image is one ``(H, M) @ (M, W)`` product.

    Args:
        diagrams: batch of finite diagrams.
        resolution: ``(W, H)`` = (pixels along birth, pixels along persistence), GUDHI's order.
        bandwidth: standard deviation of the Gaussian, > 0.
        weight: ``"constant"`` (1), ``"linear"`` (persistence ``d - b``), ``"quadratic"``
            (persistence squared), or a callable mapping the ``(B, M, 2)`` birth-persistence
            tensor to ``(B, M)`` weights (the batched form of GUDHI's per-point ``weight``).
        im_range: ``(x_min, x_max, y_min, y_max)`` in birth-persistence coordinates; ``None``
            fits it to the batch (min/max birth and min/max persistence over all real points).

    Returns:
        ``(B, H * W)`` images flattened row by row, GUDHI's order:
        ``out.view(B, H, W)[b, j, i]`` is the pixel at persistence ``y_j`` and birth ``x_i``.

    Shapes:
        diagrams.values: ``(B, M, 2)``, diagrams.mask: ``(B, M)`` -> ``(B, H * W)``.

    Differentiable in the diagram values (and smooth when the weight is).
    """
    _check_diagrams(diagrams, "persistence_images")
    if len(resolution) != 2:
        raise ValueError(f"resolution must be a pair (W, H), got {resolution!r}")
    W = _check_positive_int(resolution[0], "resolution[0]")
    H = _check_positive_int(resolution[1], "resolution[1]")
    if not math.isfinite(bandwidth) or bandwidth <= 0:
        raise ValueError(f"bandwidth must be a positive finite number, got {bandwidth!r}")
    weight_fn = _weight_fn(weight)

    values, mask = _masked_values(diagrams), diagrams.mask
    B, M, _ = values.shape
    bp = torch.stack([values[..., 0], values[..., 1] - values[..., 0]], dim=-1)  # (B, M, 2)
    x_lo, x_hi, y_lo, y_hi = _image_range(bp, mask, im_range)
    xs = _linspace(x_lo, x_hi, W)  # (W,)
    ys = _linspace(y_lo, y_hi, H)  # (H,)

    weights = weight_fn(bp)
    if weights.shape != (B, M):
        raise ValueError(f"weight must return shape (B, M) = {(B, M)}, got {tuple(weights.shape)}")
    weights = weights.masked_fill(~mask, 0.0)  # (B, M)
    two_var = 2.0 * bandwidth**2
    gauss_x = _gaussian(bp[..., 0:1] - xs, two_var)  # (B, M, W)
    gauss_y = _gaussian(bp[..., 1:2] - ys, two_var)  # (B, M, H)
    images = (gauss_y * weights.unsqueeze(-1)).transpose(1, 2) @ gauss_x  # (B, H, W)
    images = images / (math.pi * two_var)
    return images.reshape(B, H * W)  # (B, H*W)


def _gaussian(diff: Tensor, two_var: float) -> Tensor:
    """``exp(-diff^2 / two_var)``, with exponents clamped where the result is below normal range.

    Below ``log(tiny)`` the exact value is a subnormal number or 0 and CPU ``exp`` takes a slow
    path (about 10x slower); the clamp changes the value by less than the smallest normal float.
    """
    floor = math.log(torch.finfo(diff.dtype).tiny) + 1.0
    return torch.exp((diff.square() / -two_var).clamp_min(floor))


def _weight_fn(weight: str | WeightFn) -> WeightFn:
    if callable(weight):
        return weight
    if weight not in _WEIGHTS:
        raise ValueError(
            f"unknown weight {weight!r}; valid names are {sorted(_WEIGHTS)} or a callable"
        )
    return _WEIGHTS[weight]


def _image_range(
    bp: Tensor, mask: Tensor, im_range: tuple[float, float, float, float] | None
) -> tuple[Tensor, ...]:
    """``(x_min, x_max, y_min, y_max)`` as 0-dim tensors: given, or fitted on the batch."""
    if im_range is None:
        return tuple(
            _masked_extreme([(bp[..., axis], mask)], largest=largest)
            for axis in (0, 1)
            for largest in (False, True)
        )
    checked = _check_range(im_range, "im_range", 4)
    return tuple(torch.tensor(v, dtype=bp.dtype, device=bp.device) for v in checked)


# ---------------------------------------------------------------------- Betti curves
def betti_curves(
    diagrams: Diagrams,
    *,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
) -> Tensor:
    """Betti curves sampled on an even grid, as ``gudhi.representations.BettiCurve``.

    The value at ``t`` counts the points alive at ``t`` with GUDHI's half-open convention
    ``b <= t < d``: a bar is counted at its birth and no longer at its death.

    Args:
        diagrams: batch of finite diagrams.
        resolution: number of samples ``T``.
        sample_range: as in :func:`landscapes` (``None`` fits it to the batch and drops the two
            end points of ``T + 2``).

    Returns:
        ``(B, T)`` integer counts stored in the diagrams' floating dtype.

    Shapes:
        diagrams.values: ``(B, M, 2)``, diagrams.mask: ``(B, M)`` -> ``(B, T)``.

    Not differentiable: the curve is piecewise constant in the diagram values (its gradient is 0
    almost everywhere), so the result carries no autograd history.
    """
    _check_diagrams(diagrams, "betti_curves")
    resolution = _check_positive_int(resolution, "resolution")
    grid = _sample_grid((diagrams,), resolution, sample_range)  # (T,)
    values, mask = diagrams.values.detach(), diagrams.mask.unsqueeze(1)  # mask (B, 1, M)
    t = grid.view(1, -1, 1)  # (1, T, 1)
    born = ((values[..., 0].unsqueeze(1) <= t) & mask).sum(dim=-1)  # (B, T)
    dead = ((values[..., 1].unsqueeze(1) <= t) & mask).sum(dim=-1)  # (B, T)
    return (born - dead).to(values.dtype)


# ---------------------------------------------------------------------- silhouettes
def silhouettes(
    diagrams: Diagrams,
    *,
    power: float = 1.0,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
) -> Tensor:
    """Power-weighted silhouettes, as ``gudhi.representations.Silhouette``.

    ``sqrt(2) * sum_j w_j tent_j(t) / sum_j w_j`` with ``w_j = (d_j - b_j) ** power``; this is
    GUDHI's ``Silhouette(weight=lambda x: (x[1] - x[0]) ** power)``.

    Args:
        diagrams: batch of finite diagrams.
        power: exponent of the persistence weight, finite and >= 0 (0 gives the mean tent).
        resolution: number of samples ``T``.
        sample_range: as in :func:`landscapes`.

    Returns:
        ``(B, T)`` silhouettes. A diagram whose total weight is 0 (empty, or only points on the
        diagonal) gives zeros, where GUDHI divides 0 by 0.

    Shapes:
        diagrams.values: ``(B, M, 2)``, diagrams.mask: ``(B, M)`` -> ``(B, T)``.

    Differentiable in the diagram values (almost everywhere; with ``0 < power < 1`` the weight
    has an infinite slope at zero persistence).
    """
    _check_diagrams(diagrams, "silhouettes")
    if not math.isfinite(power) or power < 0:
        raise ValueError(f"power must be a finite number >= 0, got {power!r}")
    resolution = _check_positive_int(resolution, "resolution")
    grid = _sample_grid((diagrams,), resolution, sample_range)  # (T,)
    values, mask = _masked_values(diagrams), diagrams.mask
    weights = ((values[..., 1] - values[..., 0]) ** power).masked_fill(~mask, 0.0)  # (B, M)
    total = weights.sum(dim=1, keepdim=True)  # (B, 1)
    positive = total > 0
    weights = weights / torch.where(positive, total, torch.ones_like(total))
    tents = _tents(values, mask, grid)  # (B, T, M)
    return (tents @ weights.unsqueeze(-1)).squeeze(-1) * _SQRT2  # (B, T)
