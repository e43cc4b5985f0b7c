"""Generate docs/RESULTS.md from the evaluated runs of the experiments (never edit it by hand).

    python scripts/make_results.py                       # every manifest in runs/experiments
    python scripts/make_results.py runs/experiments/qm9-gamma-sweep.json --out /tmp/R.md
    python scripts/make_results.py --evaluate            # evaluate missing runs first

Reads the manifests that ``toposci experiment`` writes (``OUT/<name>.json``), each run's
``evaluation/metrics.json`` and figure arrays, and writes the Markdown file with its figures in
``results/`` beside it: the claim verdicts with their numbers and tests, one section per
experiment (arms, mean ± sd over seeds, runtime per epoch, ablations, metric-vs-gamma curves),
the per-run tables and figures. Runs without an evaluation are listed, not guessed.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from toposci.evaluation.evaluate import evaluate_run, load_evaluation
from toposci.evaluation.experiment import load_manifest
from toposci.evaluation.options import EvaluationOptions
from toposci.evaluation.report import write_report

REPO = Path(__file__).resolve().parents[1]


def _manifests(items: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            paths += sorted(p.glob("*.json"))
        elif p.is_file():
            paths.append(p)
        else:
            raise SystemExit(f"make_results: no such manifest or folder: {p}")
    if not paths:
        raise SystemExit(f"make_results: no experiment manifest in {', '.join(items)}; run "
                         "`toposci experiment recipes/experiments/<name>.yaml` first")
    return paths


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty.strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("inputs", nargs="*", default=["runs/experiments"],
                        help="experiment manifests or folders of them (default "
                             "runs/experiments)")
    parser.add_argument("--out", "-o", default=str(REPO / "docs" / "RESULTS.md"),
                        help="the Markdown file (default docs/RESULTS.md)")
    parser.add_argument("--evaluate", action="store_true",
                        help="evaluate runs that are not (fully) evaluated, with each "
                             "experiment's evaluation options")
    parser.add_argument("--alpha", type=float, default=0.05, help="level of the claim tests")
    parser.add_argument("--run-figures", choices=("none", "first-seed", "all"),
                        default="first-seed",
                        help="per-run figures (diagrams, landscapes, interpolation, OOD) for no "
                             "run, the first seed of each arm (default), or every run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    manifests = [load_manifest(p) for p in _manifests(args.inputs)]
    evaluations, missing, first_seeds = {}, [], []
    for manifest in manifests:
        options = EvaluationOptions.from_dict(manifest.get("evaluation", {}))
        for arm, entry in manifest["arms"].items():
            for seed, run in entry["runs"].items():
                if seed == min(entry["runs"], key=int):
                    first_seeds.append(run)
                if run in evaluations:
                    continue
                trained = (Path(run) / "checkpoint.pt").is_file()
                if args.evaluate and trained:
                    evaluations[run] = evaluate_run(run, options)
                elif trained and (Path(run) / "evaluation" / "metrics.json").is_file():
                    evaluations[run] = load_evaluation(run)
                else:
                    missing.append(f"{manifest['name']}/{arm}/seed{seed} "
                                   f"({'not evaluated' if trained else 'not trained'})")
    if not evaluations:
        raise SystemExit("make_results: none of the runs is evaluated yet; run `toposci "
                         "experiment` (it evaluates) or pass --evaluate")
    out = Path(args.out)
    command = "python scripts/make_results.py " + " ".join(sys.argv[1:] if argv is None
                                                           else argv)
    preamble = "\n".join([
        "<!-- Generated by scripts/make_results.py from the evaluated runs. Do not edit by "
        "hand: change the experiments or the evaluation and run the script again. -->",
        "",
        f"Generated by `{command.strip()}` on {time.strftime('%Y-%m-%d %H:%M')} at commit "
        f"{_commit()}, from {len(manifests)} experiment(s) "
        f"({', '.join(m['name'] for m in manifests)}) and {len(evaluations)} evaluated runs; "
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}. Runtimes were measured on that machine, shared with "
        "other work, so they are indicative only.",
        "",
        ("Runs left out: " + "; ".join(missing) + ".") if missing else
        "Every run of the experiments is included.",
    ])
    figure_runs = {"none": [], "all": list(evaluations.values()),
                   "first-seed": [evaluations[r] for r in dict.fromkeys(first_seeds)
                                  if r in evaluations]}[args.run_figures]
    path = write_report(list(evaluations.values()), out, experiments=manifests,
                        title="Results: do the proposals' claims hold?", preamble=preamble,
                        figures_dir=out.parent / "results", alpha=args.alpha,
                        figure_runs=figure_runs)
    print(f"wrote {path} ({len(evaluations)} runs, {len(missing)} left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
