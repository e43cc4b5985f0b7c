"""Speed of the native engine (toposci.topology.native) against peer libraries, same process.

Usage: ``python benchmarks/native.py [--only W1,W4] [--sizes 128,256,512] [--repeats 5]``.

Every row prints our median wall time, the peer's on the same input, and
``speedup = peer / ours`` (> 1: the native engine is faster). Ours and the peers of a row run
round-robin, so that the load of a shared machine weighs on both alike. A peer that computes
diagrams only is compared with our diagrams-only time, a forward+backward peer with our
forward+backward time. Peers: giotto-ph and torch-topological (``pip install
'toposci[bench]'``), GUDHI (core). A missing peer is reported, not faked. The machine's load
average is printed first: on a shared machine every number moves with it, the ratios less.

Workloads:

* W1 training-loop topology: B=64 clouds x N points x D=16 (N = 128, 256, 512), H0+H1.
  - ours, pairs only: ``rips_pairs_native_batch(dist, 1, inf, with_h0=True)`` on the distance
    matrices (all cores) vs a loop of giotto-ph ``ripser_parallel(..., n_threads=1,
    return_generators=True)`` over the same matrices, and vs GUDHI flag persistence with
    generators (``RipsComplex`` at the enclosing radius, ``flag_persistence_generators``);
  - ours, forward+backward: distances without autograd, native pairs, each bar's values
    recomputed in torch as the lengths of its two edges, ``sum().backward()`` vs
    torch-topological ``VietorisRipsComplex(dim=1)`` and toposci's GUDHI backend
    (``rips_diagrams(backend="gudhi")``); also with the values gathered from the full
    differentiable distance matrix (``gather_diagrams``, the GUDHI backend's path), which adds
    the backward through the whole ``(B, N, N)`` matrix.
  The GUDHI rows for N > 128 run on the first ``--gudhi-clouds`` clouds only (they take
  seconds per cloud), and ours is timed again on exactly those clouds for that row; plain
  GUDHI flag persistence is skipped for N = 512 (nearly all of the 22 million triangles lie
  below the enclosing radius).
* W4 cubical H0+H1 of 1,000 28x28 MNIST images (the shipped sample): ``cubical_pairs_native``
  vs GUDHI ``CubicalComplex(...).persistence()`` (diagrams only), and forward+backward vs
  torch-topological ``CubicalComplex`` and toposci's GUDHI-backed ``cubical_diagrams``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _peers import patch_torch_topological_gudhi
from _timing import interleaved_medians, report

from toposci.domains.images import load_mnist
from toposci.topology.cubical import cubical_diagrams
from toposci.topology.native import (
    cubical_pairs_native,
    rips_pairs_native_batch,
    warmup,
)
from toposci.topology.rips import (
    PersistencePairs,
    _pad_pairs,
    gather_diagrams,
    pairwise_distances,
    rips_diagrams,
)

REPO = Path(__file__).resolve().parents[1]
BATCH = 64
DIM = 16


# ---------------------------------------------------------------------------------- W1
def _pad(pairs: list[tuple[np.ndarray, np.ndarray]], dim: int) -> PersistencePairs:
    """Per-cloud ``(births (m, 2), deaths (m, 2))`` edges -> padded :class:`PersistencePairs`."""
    return _pad_pairs(pairs, dim, torch.device("cpu"))


def native_rips_fwd_bwd(x: torch.Tensor) -> None:
    """Native H0+H1 pairs, values computed in torch at the pair edges only, ``backward()``.

    The distance matrix the engine needs is computed without autograd; each bar's birth and
    death are then the lengths ``|x_i - x_j|`` of its two edges, recomputed from the points
    (the same formula, so the same values), and only those enter the autograd graph.
    """
    xi = x.clone().requires_grad_(True)
    with torch.no_grad():
        dist = pairwise_distances(xi).double().numpy()  # (B, N, N)
    pairs = rips_pairs_native_batch(dist, 1, math.inf, with_h0=True)
    total = xi.new_zeros(())
    rows = torch.arange(len(x)).unsqueeze(1)  # (B, 1)
    for dim in (0, 1):
        padded = _pad([p[dim] for p in pairs], dim)
        for edges, keep in ((padded.birth_edges, padded.mask),
                            (padded.death_edges, padded.mask & ~padded.essential)):
            ends = edges.clamp_min(0)  # (B, M, 2)
            length = torch.linalg.vector_norm(xi[rows, ends[..., 0]] - xi[rows, ends[..., 1]],
                                              dim=-1)  # (B, M)
            total = total + length[keep].sum()
    total.backward()


def native_rips_fwd_bwd_full_matrix(x: torch.Tensor) -> None:
    """As :func:`native_rips_fwd_bwd`, but gathering from the full differentiable distance
    matrix with :func:`toposci.topology.rips.gather_diagrams` (the GUDHI backend's path)."""
    xi = x.clone().requires_grad_(True)
    dist = pairwise_distances(xi)  # (B, N, N)
    pairs = rips_pairs_native_batch(dist.detach().double().numpy(), 1, math.inf, with_h0=True)
    total = xi.new_zeros(())
    for dim in (0, 1):
        diagrams = gather_diagrams(dist, _pad([p[dim] for p in pairs], dim))
        total = total + diagrams.drop_infinite().values.sum()
    total.backward()


def gudhi_flag_generators(dist: np.ndarray) -> None:
    """GUDHI flag persistence with generators of each cloud, up to the enclosing radius."""
    import gudhi

    for d in dist:
        radius = float(d.max(axis=1).min())
        st = gudhi.RipsComplex(distance_matrix=d, max_edge_length=radius).create_simplex_tree(
            max_dimension=2)
        st.compute_persistence()
        st.flag_persistence_generators()


def _w1_peers(x: torch.Tensor, dist: np.ndarray) -> tuple[dict, dict, dict[str, str]]:
    """giotto-ph (pairs only) and torch-topological (fwd+bwd) runs, or why they are missing."""
    pairs_only: dict[str, Callable[[], object]] = {}
    fwd_bwd: dict[str, Callable[[], object]] = {}
    missing: dict[str, str] = {}
    try:
        from gph import ripser_parallel

        def giotto_loop() -> None:
            for d in dist:
                ripser_parallel(d, metric="precomputed", maxdim=1, n_threads=1,
                                return_generators=True)

        pairs_only["giotto-ph loop (n_threads=1, generators)"] = giotto_loop
    except ImportError as err:
        missing["giotto-ph"] = f"not installed: {err}"
    try:
        from torch_topological.nn import VietorisRipsComplex

        vr = VietorisRipsComplex(dim=1)

        def torch_topological_run() -> None:
            xi = x.clone().requires_grad_(True)
            total = sum(info.diagram[torch.isfinite(info.diagram).all(1)].sum()
                        for cloud in vr(xi) for info in cloud)
            total.backward()

        fwd_bwd["torch-topological VietorisRipsComplex"] = torch_topological_run
    except ImportError as err:
        missing["torch-topological"] = f"not installed: {err}"
    return pairs_only, fwd_bwd, missing


def bench_w1(n_points: int, repeats: int, gudhi_clouds: int) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, n_points, DIM, generator=gen)
    dist = pairwise_distances(x).double().numpy()  # (B, N, N), exactly symmetric
    rounds = max(1, min(repeats, 3))  # the peers take seconds per round
    label = f"W1 N={n_points}"
    ours_pairs, ours_fwd_bwd = "native pairs", "native fwd+bwd"
    ours_matrix = "native fwd+bwd via full distance matrix"
    pairs_only, fwd_bwd, missing = _w1_peers(x, dist)

    t = interleaved_medians({ours_pairs: lambda: rips_pairs_native_batch(
        dist, 1, math.inf, with_h0=True), **pairs_only}, rounds)
    report(label, f"{ours_pairs} only, {BATCH} clouds", t.pop(ours_pairs), {**t, **missing})
    t = interleaved_medians({ours_fwd_bwd: lambda: native_rips_fwd_bwd(x),
                             ours_matrix: lambda: native_rips_fwd_bwd_full_matrix(x),
                             **fwd_bwd}, rounds)
    ours, matrix = t.pop(ours_fwd_bwd), t.pop(ours_matrix)
    report(label, f"{ours_fwd_bwd}, {BATCH} clouds", ours, {**t, **missing})
    report(label, ours_matrix, matrix, t)

    # GUDHI: seconds per cloud for large N, so a sub-batch (ours timed on the same one).
    k = BATCH if n_points <= 128 else min(gudhi_clouds, BATCH)
    xs, ds = x[:k], dist[:k]

    def gudhi_backend() -> None:
        xi = xs.clone().requires_grad_(True)
        out = rips_diagrams(xi, homology_dims=(0, 1), backend="gudhi")
        sum(d.drop_infinite().values.sum() for d in out.values()).backward()

    gudhi_rows: dict[str, Callable[[], object]] = {
        "ours pairs": lambda: rips_pairs_native_batch(ds, 1, math.inf, with_h0=True),
        "ours fwd+bwd": lambda: native_rips_fwd_bwd(xs),
        "toposci rips_diagrams(backend='gudhi')": gudhi_backend,
    }
    if n_points <= 256:
        gudhi_rows["GUDHI flag_persistence_generators"] = lambda: gudhi_flag_generators(ds)
    t = interleaved_medians(gudhi_rows, 1, warmup_runs=0)  # ours is warm already
    raw = t.get("GUDHI flag_persistence_generators",
                "skipped for N > 256 (tens of seconds and gigabytes per cloud)")
    report(label, f"native pairs only, {k} clouds", t["ours pairs"],
           {"GUDHI flag_persistence_generators": raw})
    report(label, f"native fwd+bwd, {k} clouds", t["ours fwd+bwd"],
           {"toposci rips_diagrams(backend='gudhi')": t["toposci rips_diagrams(backend='gudhi')"]})


# ---------------------------------------------------------------------------------- W4
def native_cubical_fwd_bwd(images: torch.Tensor) -> None:
    """Native critical pixels, values gathered from the torch images, ``backward()``."""
    x = images.clone().requires_grad_(True)
    B, H, W = x.shape
    pairs = cubical_pairs_native(x.detach().numpy())
    # Flat indices into x.reshape(B * P) of every finite bar's birth and death pixels.
    index = np.concatenate([np.concatenate([h0[h0[:, 1] >= 0], h1]).ravel() + b * H * W
                            for b, (h0, h1) in enumerate(pairs)])
    x.reshape(B * H * W)[torch.from_numpy(index)].sum().backward()


def bench_w4(repeats: int) -> None:
    import gudhi

    images, _ = load_mnist(REPO / "datasets" / "mnist", split="train")
    images = images[:1000, 0].double()  # (1000, 28, 28)
    arrays = images.numpy()
    label = "W4"

    def gudhi_run() -> None:
        for img in arrays:
            gudhi.CubicalComplex(top_dimensional_cells=img).persistence()

    t = interleaved_medians({"ours": lambda: cubical_pairs_native(arrays),
                             "GUDHI CubicalComplex.persistence (diagrams)": gudhi_run}, repeats)
    report(label, "native cubical pairs only, 1000 x 28x28", t.pop("ours"), t)

    def gudhi_front_end() -> None:
        x = images.clone().requires_grad_(True)
        out = cubical_diagrams(x, homology_dims=(0, 1), backend="gudhi")
        sum(d.drop_infinite().values.sum() for d in out.values()).backward()

    runs: dict[str, Callable[[], object]] = {
        "ours": lambda: native_cubical_fwd_bwd(images),
        "toposci cubical_diagrams (GUDHI)": gudhi_front_end,
    }
    failed: dict[str, str] = {}
    try:
        import torch_topological.nn.cubical_complex as tt_cubical
        from torch_topological.nn import CubicalComplex

        patch_torch_topological_gudhi(tt_cubical)
        cc = CubicalComplex(dim=2)

        def torch_topological_run() -> None:
            x = images.clone().requires_grad_(True)
            total = sum(info.diagram[torch.isfinite(info.diagram).all(1)].sum()
                        for img in cc(x) for info in img)
            total.backward()

        torch_topological_run()
        runs["torch-topological CubicalComplex"] = torch_topological_run
    except ImportError as err:
        failed["torch-topological"] = f"not installed: {err}"
    t = interleaved_medians(runs, repeats)
    report(label, "native cubical fwd+bwd, 1000 x 28x28", t.pop("ours"), {**t, **failed})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="W1,W4", help="comma-separated workloads: W1, W4")
    parser.add_argument("--sizes", default="128,256,512", help="W1 cloud sizes N")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gudhi-clouds", type=int, default=8,
                        help="clouds in the GUDHI rows of W1 for N > 128")
    args = parser.parse_args()
    t0 = time.perf_counter()
    warmup()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}; numba warm-up {time.perf_counter() - t0:.1f} s; medians of "
          f"{args.repeats} interleaved runs (W1: at most 3, GUDHI rows 1); "
          f"speedup = peer / ours")
    for name in args.only.split(","):
        if name == "W1":
            for n in (int(s) for s in args.sizes.split(",")):
                bench_w1(n, args.repeats, args.gudhi_clouds)
        elif name == "W4":
            bench_w4(args.repeats)
        else:
            raise SystemExit(f"unknown workload {name!r}; choose from W1, W4")


if __name__ == "__main__":
    main()
