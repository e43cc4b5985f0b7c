"""Speed of the topology engine against peer libraries, run on the same inputs in one process.

Usage: ``python benchmarks/topology.py [--only W1,W4] [--repeats 5]``.

Every row prints our median wall time, the peer's, and ``speedup = peer / ours`` (> 1 means
toposci is faster). Peers: giotto-ph and torch-topological (``pip install 'toposci[bench]'``),
GUDHI and POT (core dependencies). A missing peer is reported, not faked.

Workloads (as in the engine issue):

* W1 training-loop topology: B=64 clouds x N=128 points x D=16, H0+H1, forward + backward.
* W2 landscapes of 1,000 diagrams (~100 points each), K=5, T=100.
* W3 persistence images of the same diagrams, 20x20.
* W4 cubical H0+H1 of 1,000 28x28 MNIST images (the shipped sample), forward + backward.
* W6 bottleneck / Wasserstein-2 distances of 1,000 diagram pairs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _peers import patch_torch_topological_gudhi
from _timing import interleaved_medians, report

from toposci.domains.images import load_mnist
from toposci.topology import (
    BACKENDS,
    Diagrams,
    bottleneck_distance,
    cubical_diagrams,
    landscapes,
    persistence_images,
    rips_diagrams,
    wasserstein_distance,
)

REPO = Path(__file__).resolve().parents[1]


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of one function (see :func:`interleaved_medians` for several)."""
    return interleaved_medians({"fn": fn}, repeats, warmup_runs=warmup)["fn"]


def _finite_sum(diagrams: dict[int, Diagrams]) -> torch.Tensor:
    return sum(d.drop_infinite().values.sum() for d in diagrams.values())


# ---------------------------------------------------------------------------------- W1
def bench_w1(repeats: int, n_points: int = 128) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, n_points, 16, generator=gen)

    def ours(backend: str) -> Callable[[], None]:
        def run() -> None:
            xi = x.clone().requires_grad_(True)
            _finite_sum(rips_diagrams(xi, homology_dims=(0, 1), backend=backend)).backward()
        return run

    peers: dict[str, float | str] = {}
    try:
        from torch_topological.nn import VietorisRipsComplex

        vr = VietorisRipsComplex(dim=1)

        def torch_topological_run() -> None:
            xi = x.clone().requires_grad_(True)
            total = sum(info.diagram.sum() for cloud in vr(xi) for info in cloud)
            total.backward()

        peers["torch-topological VietorisRipsComplex"] = median_time(torch_topological_run,
                                                                     repeats)
    except ImportError as err:
        peers["torch-topological"] = f"not installed: {err}"
    try:
        from gph import ripser_parallel

        dists = torch.cdist(x, x).numpy()

        def giotto_run() -> None:
            for d in dists:
                ripser_parallel(d, metric="precomputed", maxdim=1, n_threads=1,
                                return_generators=True)

        peers["giotto-ph alone (1 thread, loop)"] = median_time(giotto_run, repeats)
    except ImportError as err:
        peers["giotto-ph"] = f"not installed: {err}"
    peers["cdist floor"] = median_time(lambda: torch.cdist(x, x), repeats)
    for backend in BACKENDS:
        try:
            t = median_time(ours(backend), repeats if backend != "gudhi" else max(1, repeats // 2))
        except (ImportError, ValueError) as err:
            print(f"W1   backend {backend} unavailable: {err}")
            continue
        report("W1", f"rips_diagrams H0+H1 fwd+bwd, backend={backend}", t, peers)


# ---------------------------------------------------------------------------------- W2/W3
def random_diagrams(n: int, points: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = int(rng.integers(points - 20, points + 21))
        births = rng.uniform(0, 1, m)
        out.append(np.stack([births, births + rng.exponential(0.2, m)], 1))
    return out


def bench_w2_w3(repeats: int) -> None:
    from gudhi.representations import Landscape, PersistenceImage

    arrays = random_diagrams(1000, 100)
    diags = Diagrams.from_arrays(arrays, dim=1, dtype=torch.float64)
    diags32 = Diagrams.from_arrays(arrays, dim=1, dtype=torch.float32)
    lo = min(a[:, 0].min() for a in arrays)
    hi = max(a[:, 1].max() for a in arrays)

    fwd = median_time(lambda: landscapes(diags, num_landscapes=5, resolution=100,
                                         sample_range=(lo, hi)), repeats)

    def fwd_bwd() -> None:
        values = diags.values.clone().requires_grad_(True)
        d = Diagrams(values, diags.mask, 1)
        landscapes(d, num_landscapes=5, resolution=100, sample_range=(lo, hi)).sum().backward()

    gudhi_land = Landscape(num_landscapes=5, resolution=100, sample_range=[lo, hi])
    peer = median_time(lambda: gudhi_land.fit_transform(arrays), repeats)
    report("W2", "landscapes forward (float64)", fwd, {"gudhi.representations.Landscape": peer})
    fwd32 = median_time(lambda: landscapes(diags32, num_landscapes=5, resolution=100,
                                           sample_range=(lo, hi)), repeats)
    report("W2", "landscapes forward (float32)", fwd32, {"gudhi.representations.Landscape": peer})
    report("W2", "landscapes forward+backward", median_time(fwd_bwd, repeats),
           {"gudhi.representations.Landscape": peer})

    im_range = (lo, hi, 0.0, max(float((a[:, 1] - a[:, 0]).max()) for a in arrays))
    ours_pi = median_time(lambda: persistence_images(diags, resolution=(20, 20), bandwidth=0.05,
                                                     im_range=im_range), repeats)
    gudhi_pi = PersistenceImage(bandwidth=0.05, resolution=[20, 20], im_range=list(im_range))
    peers: dict[str, float | str] = {
        "gudhi.representations.PersistenceImage": median_time(
            lambda: gudhi_pi.fit_transform(arrays), repeats)}
    try:
        from persim import PersistenceImager

        imager = PersistenceImager(pixel_size=(hi - lo) / 20, birth_range=(lo, hi),
                                   pers_range=im_range[2:])
        peers["persim PersistenceImager"] = median_time(lambda: imager.transform(arrays), 1,
                                                        warmup=0)
    except ImportError as err:
        peers["persim"] = f"not installed: {err}"
    report("W3", "persistence images 20x20", ours_pi, peers)


# ---------------------------------------------------------------------------------- W4
def bench_w4(repeats: int) -> None:
    import gudhi

    images, _ = load_mnist(REPO / "datasets" / "mnist", split="train")
    images = images[:1000, 0].double()  # (1000, 28, 28)

    def ours() -> None:
        x = images.clone().requires_grad_(True)
        _finite_sum(cubical_diagrams(x, homology_dims=(0, 1))).backward()

    peers: dict[str, float | str] = {}
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

        peers["torch-topological CubicalComplex fwd+bwd"] = median_time(torch_topological_run,
                                                                        repeats)
    except ImportError as err:
        peers["torch-topological"] = f"not installed: {err}"
    arrays = images.numpy()

    def gudhi_run() -> None:
        for img in arrays:
            gudhi.CubicalComplex(top_dimensional_cells=img).persistence()

    peers["GUDHI CubicalComplex (diagrams only)"] = median_time(gudhi_run, repeats)
    report("W4", "cubical H0+H1 fwd+bwd, 1000 x 28x28", median_time(ours, repeats), peers)


# ---------------------------------------------------------------------------------- W6
def bench_w6(repeats: int) -> None:
    import gudhi
    from gudhi.wasserstein import wasserstein_distance as gudhi_wasserstein

    a_arr, b_arr = random_diagrams(1000, 30, seed=1), random_diagrams(1000, 30, seed=2)
    a = Diagrams.from_arrays(a_arr, dim=1, dtype=torch.float64)
    b = Diagrams.from_arrays(b_arr, dim=1, dtype=torch.float64)

    ours_b = median_time(lambda: bottleneck_distance(a, b), repeats)
    peer_b = median_time(lambda: [gudhi.bottleneck_distance(x, y) for x, y in zip(a_arr, b_arr)],
                         repeats)
    report("W6", "bottleneck, 1000 pairs", ours_b, {"GUDHI bottleneck_distance loop": peer_b})
    ours_w = median_time(lambda: wasserstein_distance(a, b, order=2.0), repeats)
    peer_w = median_time(
        lambda: [gudhi_wasserstein(x, y, order=2.0) for x, y in zip(a_arr, b_arr)], repeats)
    report("W6", "Wasserstein-2, 1000 pairs", ours_w, {"GUDHI/POT wasserstein loop": peer_w})


BENCHES = {"W1": bench_w1, "W2": bench_w2_w3, "W4": bench_w4, "W6": bench_w6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES),
                        help=f"comma-separated workloads out of {','.join(BENCHES)} (W2 runs W3)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of "
          f"{args.repeats} runs; speedup = peer / ours")
    for name in args.only.split(","):
        if name not in BENCHES:
            raise SystemExit(f"unknown workload {name!r}; choose from {sorted(BENCHES)}")
        BENCHES[name](args.repeats)


if __name__ == "__main__":
    main()
