"""PNG figures of evaluated runs, drawn from the arrays of ``RUN_DIR/evaluation/*.npz``.

Each function writes one file and returns its path, or None when the run has nothing to draw
(a skipped section). Matplotlib runs on the Agg backend; molecules are drawn by RDKit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toposci.topology.diagrams import Diagrams
from toposci.topology.vectorize import landscapes

__all__ = ["plot_diagrams", "plot_interpolation", "plot_landscapes", "plot_metric_curves",
           "plot_ood", "plot_path_topology"]

_SETS = (("data", "held-out data", "C0", "o"), ("samples", "generated", "C1", "x"))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return path


def _dims(arrays: Mapping[str, np.ndarray]) -> list[int]:
    return sorted({int(k.rsplit("_H", 1)[1]) for k in arrays if k.startswith("data_H")})


def plot_diagrams(arrays: Mapping[str, np.ndarray], path: Path, *, title: str) -> Path | None:
    """Persistence diagrams of held-out data and generated samples, one panel per dimension.

    Args:
        arrays: the topology section's arrays (``data_H0 (M, 2)``, ``samples_H0`` ...).
    """
    dims = _dims(arrays)
    if not dims:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(dims), figsize=(4 * len(dims), 3.8), squeeze=False)
    for ax, d in zip(axes[0], dims):
        top = 0.0
        for key, label, color, marker in _SETS:
            pts = arrays[f"{key}_H{d}"].reshape(-1, 2)  # (M, 2)
            if len(pts):
                top = max(top, float(pts.max()))
            ax.scatter(pts[:, 0], pts[:, 1], s=12, alpha=0.6, color=color, marker=marker,
                       label=f"{label} ({len(pts)})")
        top = top or 1.0
        ax.plot([0, top], [0, top], color="0.5", lw=0.8)
        ax.set(xlabel="birth", ylabel="death", title=f"H{d}")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_landscapes(arrays: Mapping[str, np.ndarray], path: Path, *, title: str,
                    num_landscapes: int = 3, resolution: int = 100) -> Path | None:
    """The first persistence landscapes of data and samples on one grid per dimension."""
    dims = _dims(arrays)
    if not dims:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(dims), figsize=(4 * len(dims), 3.4), squeeze=False)
    for ax, d in zip(axes[0], dims):
        pair = [arrays[f"{key}_H{d}"].reshape(-1, 2) for key, *_ in _SETS]
        if not any(len(p) for p in pair):
            ax.set_title(f"H{d}: no finite bars")
            continue
        lo = min(float(p[:, 0].min()) for p in pair if len(p))
        hi = max(float(p[:, 1].max()) for p in pair if len(p))
        hi = hi if hi > lo else lo + 1.0
        dgms = Diagrams.from_arrays(pair, dim=d, dtype=torch.float64)
        lam = landscapes(dgms, num_landscapes=num_landscapes, resolution=resolution,
                         sample_range=(lo, hi)).numpy()  # (2, K, T)
        grid = np.linspace(lo, hi, resolution)
        for (_, label, color, _), levels in zip(_SETS, lam):
            for k, curve in enumerate(levels):
                ax.plot(grid, curve, color=color, lw=1.4 - 0.35 * k, alpha=1.0 - 0.25 * k,
                        label=label if k == 0 else None)
        ax.set(xlabel="filtration value", title=f"H{d} landscapes 1-{num_landscapes}")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


# ---------------------------------------------------------------------- interpolation strips
def _molecule_strip(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                    path: Path, title: str) -> Path | None:
    from rdkit import Chem
    from rdkit.Chem import Draw

    smiles = metrics.get("strip_smiles")
    if not smiles:
        return None
    reasons = metrics.get("strip_reasons") or [[""] * len(row) for row in smiles]
    T = len(smiles[0])
    mols, legends = [], []
    for row, why in zip(smiles, reasons):
        for t, (s, r) in enumerate(zip(row, why)):
            mol = Chem.MolFromSmiles(s) if s else None
            mols.append(mol if mol is not None else Chem.Mol())
            legends.append(f"t={t / (T - 1):.2f}" + ("" if s else f" {r}"))
    image = Draw.MolsToGridImage(mols, molsPerRow=T, subImgSize=(140, 120), legends=legends)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(path))
    return path


def _image_strip(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], path: Path,
                 title: str) -> Path | None:
    views = arrays.get("linear_strip_views")
    if views is None:
        return None
    S, T, F = views.shape
    side = round(F**0.5)
    plt = _pyplot()
    fig, axes = plt.subplots(S, T, figsize=(0.9 * T, 0.95 * S + 0.4), squeeze=False)
    for s in range(S):
        for t in range(T):
            ax = axes[s, t]
            ax.imshow(views[s, t].reshape(side, side), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def _pca(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Projections onto the two leading principal axes of ``reference (N, F)``."""
    mean = reference.mean(axis=0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    axes = vt[:2].T  # (F, <=2)
    if axes.shape[1] < 2:
        axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
    return [(x - mean) @ axes for x in (reference, *others)]


def _cloud_strip(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], path: Path,
                 title: str) -> Path | None:
    views, reference = arrays.get("linear_strip_views"), arrays.get("reference_views")
    if views is None or reference is None:
        return None
    S, T, F = views.shape
    cloud = arrays.get("background_views", reference)  # (n, F)
    ref2, paths2 = _pca(cloud, views.reshape(S * T, F))
    paths2 = paths2.reshape(S, T, 2)  # (S * T, 2) -> (S, T, 2)
    valid = arrays.get("linear_strip_valid")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.scatter(ref2[:, 0], ref2[:, 1], s=6, color="0.7", label="held-out data")
    for s in range(S):
        ax.plot(paths2[s, :, 0], paths2[s, :, 1], "-", color=f"C{s}", lw=1)
        ok = np.ones(T, dtype=bool) if valid is None else valid[s]
        ax.scatter(paths2[s, ok, 0], paths2[s, ok, 1], s=16, color=f"C{s}", marker="o")
        ax.scatter(paths2[s, ~ok, 0], paths2[s, ~ok, 1], s=24, color=f"C{s}", marker="x")
    ax.set(xlabel="PC 1 of the data views", ylabel="PC 2", title="linear paths (x: invalid)")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


_STRIPS: dict[str, Callable[..., Path | None]] = {"molecules": _molecule_strip,
                                                   "images": _image_strip}


def plot_interpolation(domain: str, metrics: Mapping[str, Any],
                       arrays: Mapping[str, np.ndarray], path: Path, *,
                       title: str) -> Path | None:
    """Decoded linear interpolation paths: a molecule grid (RDKit), an image strip, or the
    paths among the held-out data in the plane of the data's two principal axes.

    Args:
        domain: the run's domain name (chooses the drawing).
        metrics: the interpolation section's ``linear`` metrics (molecules: its SMILES).
        arrays: the interpolation section's arrays.
    """
    return _STRIPS.get(domain, _cloud_strip)(metrics, arrays, path, title)


def plot_path_topology(arrays: Mapping[str, np.ndarray], path: Path, *,
                       title: str) -> Path | None:
    """Diagram distances between each step's decoded set and the data, along the paths."""
    keys = sorted(k for k in arrays if "_path_wasserstein_H" in k)
    if not keys:
        return None
    plt = _pyplot()
    dims = sorted({k.rsplit("_H", 1)[1] for k in keys})
    fig, axes = plt.subplots(1, len(dims), figsize=(4 * len(dims), 3.2), squeeze=False)
    for ax, d in zip(axes[0], dims):
        for i, kind in enumerate(("linear", "spherical")):
            values = arrays.get(f"{kind}_path_wasserstein_H{d}")
            if values is not None:
                ax.plot(np.linspace(0, 1, len(values)), values, "o-", color=f"C{i}", label=kind)
        ax.set(xlabel="t along the path", ylabel="1-Wasserstein to the data",
               title=f"H{d}")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_ood(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], path: Path, *,
             title: str) -> Path | None:
    """Histograms of the OOD scores of held-out and shifted samples, one panel per score."""
    sets = sorted(metrics.get("sets", {}))
    kinds = sorted({k.split("__", 1)[1] for k in arrays if k.startswith("in__")})
    if not sets or not kinds:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.4 * len(kinds), 3.3), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        groups = [("in", "held-out")] + [(s, s) for s in sets]
        values = [arrays[f"{key}__{kind}"] for key, _ in groups]
        lo, hi = np.percentile(np.concatenate(values), [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 40)
        for i, ((key, label), v) in enumerate(zip(groups, values)):
            auc = "" if key == "in" else f" AUC {metrics['sets'][key][f'auc_{kind}']:.2f}"
            ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, density=True, histtype="step",
                    lw=1.5, color=f"C{i}", label=f"{label}{auc}")
        ax.set(xlabel=kind.replace("_", " "), ylabel="density")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_metric_curves(curves: Mapping[str, Mapping[str, Mapping[float, Sequence[float]]]],
                       path: Path, *, title: str) -> Path | None:
    """Metrics against γ, mean ± standard deviation over seeds, one panel per metric.

    Args:
        curves: ``{metric label: {series label: {gamma: [value per seed]}}}``.

    The γ axis is symmetric-log (linear below the smallest positive γ), so γ = 0 shows.
    """
    panels = {m: s for m, s in curves.items() if any(s.values())}
    if not panels:
        return None
    plt = _pyplot()
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    positive = [g for s in panels.values() for by_g in s.values() for g in by_g if g > 0]
    for ax, (metric, series) in zip(axes.flat, panels.items()):
        for i, (label, by_gamma) in enumerate(series.items()):
            gammas = sorted(by_gamma)
            means = [float(np.mean(by_gamma[g])) for g in gammas]
            stds = [float(np.std(by_gamma[g], ddof=1)) if len(by_gamma[g]) > 1 else 0.0
                    for g in gammas]
            ax.errorbar(gammas, means, yerr=stds, fmt="o-", capsize=3, color=f"C{i}",
                        label=label)
        if positive:
            ax.set_xscale("symlog", linthresh=min(positive))
        ax.set(xlabel="\N{GREEK SMALL LETTER GAMMA}", title=metric)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
