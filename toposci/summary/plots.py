"""PNG figures of a data set's topology summary: diagrams, landscapes, Betti curves, lifetimes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from toposci.summary.stats import DimensionSummary

__all__ = ["plot_summary"]

_COLORS = tuple(f"C{i}" for i in range(10))  # matplotlib's default colour cycle


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_summary(
    points: Mapping[int, np.ndarray],
    summaries: Mapping[int, DimensionSummary],
    out_dir: str | Path,
    *,
    title: str,
    dataset_diagrams: Mapping[int, np.ndarray] | None = None,
) -> list[Path]:
    """Write the summary figures into ``out_dir`` and return their paths.

    Args:
        points: per homology dimension, the points ``(P, 2)`` of all samples' diagrams.
        summaries: per dimension, the statistics from :func:`summarize_dimension`.
        out_dir: folder for the PNG files (created).
        title: data set name shown on every figure; also the file-name prefix.
        dataset_diagrams: optional per-dimension diagram of the data set itself (descriptor view).
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = title.replace(" ", "_").replace("/", "_")
    dims = sorted(summaries)
    written = []

    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 4), squeeze=False)
    for ax, d in zip(axes[0], dims):
        pts = np.asarray(points[d]).reshape(-1, 2)  # (P, 2)
        finite = pts[np.isfinite(pts).all(axis=1)]
        n_inf = len(pts) - len(finite)
        if len(finite):
            lo, hi = float(finite.min()), float(finite.max())
            if len(finite) > 20_000:
                ax.hist2d(finite[:, 0], finite[:, 1], bins=80, cmin=1, cmap="viridis")
            else:
                ax.scatter(finite[:, 0], finite[:, 1], s=6, alpha=0.25, color=_COLORS[d])
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("birth")
        ax.set_ylabel("death")
        ax.set_title(f"H{d}: {len(finite)} finite points, {n_inf} infinite")
    fig.suptitle(f"{title}: persistence diagrams of all samples")
    written.append(_save(fig, out / f"{stem}_diagrams.png"))

    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 4), squeeze=False)
    for ax, d in zip(axes[0], dims):
        s = summaries[d]
        for k in range(s.landscape_mean.shape[0]):
            c = _COLORS[k % len(_COLORS)]
            ax.plot(s.grid, s.landscape_mean[k], color=c, lw=1.2, label=f"λ{k + 1}")
            ax.fill_between(s.grid, s.landscape_low[k], s.landscape_high[k], color=c, alpha=0.25)
        ax.set_xlabel("filtration value")
        ax.set_title(f"H{d} mean landscapes (95% band, n={s.n_samples})")
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: mean persistence landscapes")
    written.append(_save(fig, out / f"{stem}_landscapes.png"))

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, d in enumerate(dims):
        s = summaries[d]
        ax.plot(s.grid, s.betti_mean, color=_COLORS[i % len(_COLORS)], label=f"β{d}")
        ax.fill_between(s.grid, s.betti_low, s.betti_high, color=_COLORS[i % len(_COLORS)],
                        alpha=0.25)
    ax.set_xlabel("filtration value")
    ax.set_ylabel("mean Betti number")
    ax.legend()
    ax.set_title(f"{title}: mean Betti curves (95% band)")
    written.append(_save(fig, out / f"{stem}_betti_curves.png"))

    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 4), squeeze=False)
    for ax, d in zip(axes[0], dims):
        pts = np.asarray(points[d]).reshape(-1, 2)  # (P, 2)
        life = (pts[:, 1] - pts[:, 0])[np.isfinite(pts).all(axis=1)]
        ax.hist(life[life > 0], bins=50, color=_COLORS[d % len(_COLORS)])
        ax.set_xlabel("lifetime (death - birth)")
        ax.set_ylabel("count")
        ax.set_title(f"H{d}: {int((life > 0).sum())} finite bars with lifetime > 0")
    fig.suptitle(f"{title}: lifetimes")
    written.append(_save(fig, out / f"{stem}_lifetimes.png"))

    if dataset_diagrams:
        fig, ax = plt.subplots(figsize=(5, 5))
        finite_all = [d[np.isfinite(d).all(axis=1)] for d in dataset_diagrams.values()]
        top = max((float(f.max()) for f in finite_all if len(f)), default=1.0)
        for i, (d, dgm) in enumerate(sorted(dataset_diagrams.items())):
            shown = np.where(np.isfinite(dgm), dgm, top * 1.05)
            ax.scatter(shown[:, 0], shown[:, 1], s=10, color=_COLORS[i % len(_COLORS)],
                       label=f"H{d} ({len(dgm)})")
        ax.plot([0, top * 1.05], [0, top * 1.05], "k--", lw=0.8)
        ax.axhline(top * 1.05, color="grey", lw=0.5, ls=":")
        ax.set_xlabel("birth")
        ax.set_ylabel("death (dotted line: infinite)")
        ax.legend()
        ax.set_title(f"{title}: the data set as one point cloud")
        written.append(_save(fig, out / f"{stem}_dataset_diagram.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path
