"""Overhead of the topological term of TopoDiffusionLite: training time at gamma = 0 and at the
recipe's gamma, per domain.

For each full diffusion recipe (torus, protein fragments, MNIST), both variants train on the same
prepared batches (the full data in ../shared/data when present, else the shipped sample with the
full recipe's model); steps are timed round-robin in chunks of ``--steps`` optimizer steps
(``_timing.interleaved_medians``), and the epoch time is the median chunk time scaled to one pass
over the training set. The term runs the denoiser a second time on a sub-batch of
``topo_batch`` samples and computes two batches of persistence diagrams and their landscapes,
so its cost is set by ``topo_batch`` and the views' width, not by the batch size.

    python benchmarks/diffusion_epoch.py [--only torus,proteins,mnist] [--rounds 5] [--steps 10]
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
SHARED = REPO.parent / "shared" / "data"
WORKLOADS = {  # recipe, the full data's path override (None: the recipe's data need no file)
    "torus": ("torus_diffusion", None),
    "proteins": ("proteins_diffusion", SHARED / "proteins"),
    "mnist": ("mnist_diffusion", SHARED / "images" / "mnist"),
}


def _overrides(workload: str) -> tuple[list[str], str]:
    """Recipe overrides that point it at the full data, or at the shipped sample without it."""
    _, full = WORKLOADS[workload]
    if full is None:
        return [], "generated"
    if full.exists():
        return [f"data.path={full}"], "full"
    return ["data.path=null"], "shipped sample"


def _stepper(recipe_path: Path, overrides: list[str], gamma: float, domain, batches):
    recipe = load_recipe(recipe_path, [*overrides, f"model.gamma={gamma}"])
    torch.manual_seed(0)
    shape = tuple(domain.to_tensor(batches[0]).shape[1:])
    model = build_model(recipe, domain, sample_shape=shape).train()
    return training_steps(model, batches, recipe.train.lr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads out of {','.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per timed chunk")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for workload in args.only.split(","):
        if workload not in WORKLOADS:
            raise SystemExit(f"unknown workload {workload!r}; valid: {', '.join(WORKLOADS)}")
        recipe_path = REPO / "recipes" / f"{WORKLOADS[workload][0]}.yaml"
        overrides, data_kind = _overrides(workload)
        base = load_recipe(recipe_path, overrides)
        domain = get_domain(base.domain)(base.data)
        data = domain.load()
        n, bs = len(data.train), base.train.batch_size
        order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        starts = [(i * bs) % max(n - bs + 1, 1) for i in range(args.steps)]
        batches = [move_to(domain.collate(data.train, order[s:s + bs]), "cpu") for s in starts]
        gamma = base.model.gamma
        times = interleaved_medians(
            {g: _stepper(recipe_path, overrides, g, domain, batches) for g in (0.0, gamma)},
            rounds=args.rounds)
        steps_per_epoch = math.ceil(n / bs)
        per_step = {g: t / args.steps for g, t in times.items()}
        print(f"{workload} ({data_kind} data: {n} training samples, batch {bs}, topo_batch "
              f"{base.model.diffusion.topo_batch}, {steps_per_epoch} steps per epoch, "
              f"{args.threads} thread(s))")
        for g, t in per_step.items():
            print(f"  gamma={g:<6g} {1000 * t:8.1f} ms/step  {t * steps_per_epoch:8.1f} s/epoch  "
                  f"overhead {100 * (t / per_step[0.0] - 1):+6.1f}%")


if __name__ == "__main__":
    main()
