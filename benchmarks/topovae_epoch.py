"""The proposals' overhead ablation: TopoVAE training time with and without L_topo on QM9.

Each variant trains on the same 128-molecule batches of the full QM9 training split (the shipped
sample when ../shared/data is absent). Steps of the variants are timed round-robin in chunks of
``--steps`` optimizer steps, and the epoch time is the median chunk time scaled to one pass over
the training set (120,803 molecules = 944 batches). Targets: the topological term costs at most
15% (issue 4) / 30% (issue 5) extra per epoch at batch size 128.

    python benchmarks/topovae_epoch.py [--rounds 5] [--steps 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from _timing import interleaved_medians, training_steps

from toposci.domains.base import get_domain, move_to
from toposci.training.config import load_recipe
from toposci.training.trainer import build_model

REPO = Path(__file__).resolve().parents[1]
FULL_QM9 = REPO.parent / "shared" / "data" / "qm9" / "qm9_smiles.csv.gz"
VARIANTS = {
    "gamma=0 (VAE)": ["model.gamma=0"],
    "gamma=0.1 latent H0+H1 (proposal A)": ["model.gamma=0.1"],
    "gamma=0.1 latent H0 only": ["model.gamma=0.1", "regularizer.homology_weights={0: 1.0}"],
    "gamma=0.1 reconstruction H0+H1 (proposal B)": [
        "model.gamma=0.1", "regularizer.mode=reconstruction", "regularizer.resolution=50"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per timed chunk")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = str(FULL_QM9) if FULL_QM9.is_file() else "null"
    base = load_recipe(REPO / "recipes" / "qm9_topovae.yaml", [f"data.path={path}"])
    domain = get_domain(base.domain)(base.data)
    data = domain.load()
    n = len(data.train)
    bs = base.train.batch_size
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(n, generator=g)
    batches = [move_to(domain.collate(data.train, order[i * bs:(i + 1) * bs]), "cpu")
               for i in range(args.steps)]

    def stepper(overrides: list[str]):
        recipe = load_recipe(REPO / "recipes" / "qm9_topovae.yaml",
                             [f"data.path={path}", *overrides])
        torch.manual_seed(0)
        return training_steps(build_model(recipe, domain).train(), batches, recipe.train.lr)

    times = interleaved_medians({name: stepper(o) for name, o in VARIANTS.items()},
                                rounds=args.rounds)
    steps_per_epoch = math.ceil(n / bs)
    base_time = times["gamma=0 (VAE)"]
    print(f"QM9 {'full' if path != 'null' else 'shipped sample'}: {n} training molecules, "
          f"batch {bs}, {steps_per_epoch} steps per epoch, {args.threads} threads "
          f"(batches prepared in advance: model time only)")
    for name, t in times.items():
        epoch = t / args.steps * steps_per_epoch
        print(f"  {name:<46} {1000 * t / args.steps:7.1f} ms/step  {epoch:7.1f} s/epoch  "
              f"overhead {100 * (t / base_time - 1):+6.1f}%")


if __name__ == "__main__":
    main()
