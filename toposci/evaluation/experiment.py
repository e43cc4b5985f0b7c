"""Experiments: one base recipe, named arms of overrides, several seeds; trained and evaluated.

An experiment file (``recipes/experiments/*.yaml``) is strict, like a recipe::

    name: qm9-gamma-sweep
    description: ...
    recipe: ../qm9_demo.yaml          # relative to this file
    overrides: [train.epochs=30]      # applied to every arm
    seeds: [0, 1, 2]                  # train.seed of each run
    arms:                             # arm name -> its overrides
      gamma-0: [model.gamma=0]
      gamma-0.1: [model.gamma=0.1]
    comparisons:                      # ablations reported side by side (optional)
      - {a: gamma-0.1, b: gamma-0, label: "with vs without L_topo"}
    evaluation: {samples: 2000}       # EvaluationOptions (optional)

:func:`run_experiment` trains every (arm, seed) into ``OUT/runs/<recipe name>-s<seed>-<hash>``,
where the hash is that of the recipe as written (base file and overrides; defaults are not
filled in) without ``train.epochs`` and ``train.time_budget_minutes``: two experiments that
write the same overrides share the run, and raising ``epochs`` continues a run instead of
starting it again. A run is skipped when finished (the
marker ``experiment_done.json`` records the length it was trained for), resumed from its
checkpoint when interrupted, and then evaluated (:func:`~toposci.evaluation.evaluate.
evaluate_run`, itself resumable). ``OUT/<name>.json`` lists the runs of every arm and seed; it
is what ``toposci evaluate`` and ``scripts/make_results.py`` read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toposci.evaluation.evaluate import evaluate_run
from toposci.evaluation.options import EvaluationOptions
from toposci.training.config import Recipe, apply_overrides, build_dataclass, recipe_from_dict
from toposci.training.trainer import CHECKPOINT_FILE, train

__all__ = ["DONE_FILE", "ExperimentSpec", "PlannedRun", "load_experiment", "load_manifest",
           "plan_experiment", "run_experiment"]

logger = logging.getLogger(__name__)

DONE_FILE = "experiment_done.json"
"""Written into a run directory when its training has finished."""


@dataclass
class ComparisonSpec:
    """Two arms reported side by side: ``a`` against ``b``."""

    a: str
    b: str
    label: str = ""


@dataclass
class ExperimentSpec:
    """An experiment file (module docstring)."""

    name: str
    recipe: str
    seeds: list[int]
    arms: dict[str, list[str]]
    description: str = ""
    overrides: list[str] = field(default_factory=list)
    comparisons: list[ComparisonSpec] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedRun:
    """One (arm, seed) of an experiment.

    Attributes:
        arm, seed: which.
        overrides: all overrides applied to the base recipe.
        recipe: the resolved recipe.
        run_name: the run directory's name under ``OUT/runs``.
    """

    arm: str
    seed: int
    overrides: tuple[str, ...]
    recipe: Recipe
    run_name: str


def load_experiment(path: str | Path) -> tuple[ExperimentSpec, Path]:
    """Read and check an experiment file.

    Returns:
        The spec and the base recipe's resolved path.

    Raises:
        ValueError: an unknown key, a wrong type, no arm or seed, repeated seeds, a comparison
            naming an unknown arm, bad evaluation options.
        FileNotFoundError: the experiment file or its recipe does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no experiment file {path}")
    raw = yaml.safe_load(path.read_text())
    spec = build_dataclass(ExperimentSpec, raw, path.name)
    if not spec.arms or not spec.seeds:
        raise ValueError(f"{path.name}: an experiment needs at least one arm and one seed")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise ValueError(f"{path.name}: seeds repeat: {spec.seeds}")
    for c in spec.comparisons:
        for arm in (c.a, c.b):
            if arm not in spec.arms:
                raise ValueError(f"{path.name}: comparison names unknown arm {arm!r}; arms: "
                                 f"{', '.join(spec.arms)}")
    EvaluationOptions.from_dict(spec.evaluation)
    recipe = (path.parent / spec.recipe).resolve()
    if not recipe.is_file():
        raise FileNotFoundError(f"{path.name}: recipe {spec.recipe} not found (looked for "
                                f"{recipe}; the path is relative to the experiment file)")
    return spec, recipe


def _run_name(raw: dict[str, Any], recipe: Recipe) -> str:
    """``<name>-s<seed>-<hash>``, the hash of the recipe as written (base file plus overrides,
    defaults not filled in, so that a new config default does not rename old runs) without the
    entries that only say how long to train."""
    plain = dict(raw)
    plain["train"] = {k: v for k, v in (plain.get("train") or {}).items()
                      if k not in ("epochs", "time_budget_minutes")}
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()
    return f"{recipe.name}-s{recipe.train.seed}-{digest[:10]}"


def plan_experiment(spec: ExperimentSpec, recipe_path: Path) -> list[PlannedRun]:
    """Every (arm, seed) of the experiment with its resolved recipe, arms in file order."""
    base = yaml.safe_load(recipe_path.read_text()) or {}
    runs = []
    for arm, arm_overrides in spec.arms.items():
        for seed in spec.seeds:
            overrides = (*spec.overrides, *arm_overrides, f"train.seed={seed}")
            raw = apply_overrides(base, overrides)
            recipe = recipe_from_dict(raw, where=f"{spec.name}/{arm}/seed {seed}")
            runs.append(PlannedRun(arm, seed, overrides, recipe, _run_name(raw, recipe)))
    return runs


def _finished(run_dir: Path, recipe: Recipe) -> bool:
    done = run_dir / DONE_FILE
    if not done.is_file():
        return False
    record = json.loads(done.read_text())
    return record.get("length") == {"epochs": recipe.train.epochs,
                                    "time_budget_minutes": recipe.train.time_budget_minutes}


def _status(run_dir: Path, recipe: Recipe) -> str:
    if _finished(run_dir, recipe):
        return "finished"
    return "interrupted" if (run_dir / CHECKPOINT_FILE).is_file() else "new"


def _write_manifest(spec: ExperimentSpec, source: Path, out: Path,
                    planned: Sequence[PlannedRun]) -> Path:
    arms: dict[str, dict[str, Any]] = {}
    for run in planned:
        entry = arms.setdefault(run.arm, {"overrides": list(spec.arms[run.arm]), "runs": {}})
        entry["runs"][str(run.seed)] = f"runs/{run.run_name}"
    manifest = {
        "name": spec.name, "description": spec.description, "source": str(source),
        "recipe": spec.recipe, "overrides": spec.overrides, "seeds": spec.seeds, "arms": arms,
        "comparisons": [{"a": c.a, "b": c.b, "label": c.label or f"{c.a} vs {c.b}"}
                        for c in spec.comparisons],
        "evaluation": spec.evaluation,
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = out / f"{spec.name}.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def run_experiment(path: str | Path, out: str | Path, *, evaluate: bool = True,
                   dry_run: bool = False, device: str | None = None, eval_device: str = "cpu",
                   progress: bool = True) -> dict[str, Any]:
    """Train (and evaluate) every run of an experiment file, skipping finished work.

    Args:
        path: the experiment file.
        out: the experiments folder (runs in ``out/runs``, the manifest ``out/<name>.json``).
        evaluate: evaluate each run after training it.
        dry_run: only report each run's status; train and write nothing.
        device: training device (default: each recipe's).
        eval_device: evaluation device.
        progress: progress bars.

    Returns:
        ``{"manifest": path or None, "runs": [{"arm", "seed", "run_dir", "status",
        "action"}]}``, ``status`` as found (``"new"``, ``"interrupted"``, ``"finished"``) and
        ``action`` what was done (``"trained"``, ``"resumed"``, ``"skipped"``, or
        ``"planned"`` in a dry run).
    """
    spec, recipe_path = load_experiment(path)
    options = EvaluationOptions.from_dict(spec.evaluation)
    out = Path(out)
    planned = plan_experiment(spec, recipe_path)
    report: dict[str, Any] = {"manifest": None, "runs": []}
    if not dry_run:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    for i, run in enumerate(planned, start=1):
        run_dir = out / "runs" / run.run_name
        status = _status(run_dir, run.recipe)
        action = {"new": "trained", "interrupted": "resumed", "finished": "skipped"}[status]
        report["runs"].append({"arm": run.arm, "seed": run.seed, "run_dir": str(run_dir),
                               "status": status, "action": "planned" if dry_run else action})
        if dry_run:
            continue
        logger.info("[%d/%d] %s seed %d: %s (%s)", i, len(planned), run.arm, run.seed, action,
                    run_dir)
        if status != "finished":
            train(run.recipe, run_dir, resume=status == "interrupted", progress=progress,
                  device=device)
            (run_dir / DONE_FILE).write_text(json.dumps({
                "experiment": spec.name, "arm": run.arm, "seed": run.seed,
                "overrides": list(run.overrides),
                "length": {"epochs": run.recipe.train.epochs,
                           "time_budget_minutes": run.recipe.train.time_budget_minutes}}))
        report["manifest"] = str(_write_manifest(spec, Path(path), out, planned[:i]))
        if evaluate:
            evaluate_run(run_dir, options, device=eval_device, progress=progress)
    return report


def load_manifest(path: str | Path) -> dict[str, Any]:
    """An experiment manifest with its run paths made absolute.

    Raises:
        ValueError: the file is not an experiment manifest.
    """
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or not {"name", "arms"} <= set(manifest):
        raise ValueError(f"{path} is not an experiment manifest (written by `toposci "
                         "experiment`)")
    for entry in manifest["arms"].values():
        entry["runs"] = {seed: str((path.parent / rel).resolve())
                         for seed, rel in entry["runs"].items()}
    manifest["path"] = str(path)
    return manifest
