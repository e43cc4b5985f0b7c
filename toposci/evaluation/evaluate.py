"""Evaluate trained runs, section by section, into ``RUN_DIR/evaluation/``; resumable.

``RUN_DIR/evaluation/metrics.json`` holds the run's description (``info``: recipe, model kind,
γ, seed, epochs, seconds per epoch from ``metrics.csv``) and one record per section
(:data:`~toposci.evaluation.options.SECTIONS`)::

    {"status": "done" | "skipped", "metrics": {...}, "reason": "...", "seconds": 1.2,
     "options": {...}, "checkpoint": "<sha256 of checkpoint.pt>"}

and ``RUN_DIR/evaluation/<section>.npz`` the arrays the figures are drawn from. Both are
rewritten atomically after every section, so an interrupted evaluation keeps what it finished.
A section is computed again only when it is missing, when the checkpoint changed (a resumed
training), when the options it depends on changed
(:meth:`~toposci.evaluation.options.EvaluationOptions.for_section`), or with ``force``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm.auto import tqdm

from toposci.download import sha256_file
from toposci.evaluation.context import RunContext
from toposci.evaluation.options import EvaluationOptions
from toposci.evaluation.sections import SectionSkipped, jsonable
from toposci.training.config import recipe_from_dict
from toposci.training.trainer import CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE

__all__ = ["EVALUATION_DIR", "RunEvaluation", "evaluate_run", "evaluate_runs", "load_evaluation",
           "run_info"]

logger = logging.getLogger(__name__)

EVALUATION_DIR = "evaluation"
"""The folder of a run directory that holds its evaluation."""
_METRICS_JSON = "metrics.json"


@dataclass
class RunEvaluation:
    """A run's evaluation as stored in ``RUN_DIR/evaluation``.

    Attributes:
        run_dir: the run directory.
        info: the run's description (:func:`run_info`).
        sections: the section records (module docstring), by section name.
        computed: the sections computed by the call that returned this (empty when read).
    """

    run_dir: Path
    info: dict[str, Any]
    sections: dict[str, dict[str, Any]]
    computed: tuple[str, ...] = ()

    def metric(self, path: str) -> Any:
        """A value by dotted path, e.g. ``"ood.auc_mean.mahalanobis"`` or
        ``"info.seconds_per_epoch"``; None when absent or the section was skipped."""
        section, _, rest = path.partition(".")
        if section == "info":
            node: Any = self.info
        else:
            record = self.sections.get(section)
            if record is None or record.get("status") != "done":
                return None
            node = record["metrics"]
        for part in rest.split(".") if rest else ():
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def skipped(self) -> dict[str, str]:
        """Reasons of the skipped sections, by section name."""
        return {name: rec.get("reason", "") for name, rec in self.sections.items()
                if rec.get("status") == "skipped"}

    def arrays(self, section: str) -> dict[str, np.ndarray]:
        """The section's figure arrays (empty when it has none)."""
        path = self.run_dir / EVALUATION_DIR / f"{section}.npz"
        if not path.is_file():
            return {}
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


def run_info(run_dir: str | Path) -> dict[str, Any]:
    """What the report needs to know about a run without loading its model.

    Returns:
        ``name``, ``domain``, ``model_kind``, ``gamma``, ``beta``, ``latent_dim``,
        ``regularizer`` (mode / vectorization / filtration), ``seed``, ``epochs`` (finished),
        ``epochs_planned``, ``seconds_per_epoch`` (mean over finished epochs; None without
        any), ``seconds_per_epoch_median``, ``recipe`` (the resolved recipe) and ``run_dir``.
    """
    run_dir = Path(run_dir)
    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CONFIG_FILE}; is it a training run directory "
                                "(made by `toposci train`)?")
    recipe = recipe_from_dict(yaml.safe_load(config.read_text()), where=str(config))
    seconds: list[float] = []
    metrics_csv = run_dir / METRICS_FILE
    if metrics_csv.is_file():
        with metrics_csv.open(newline="") as f:
            seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
    reg = recipe.regularizer
    return jsonable({
        "name": recipe.name, "domain": recipe.domain, "model_kind": recipe.model.kind,
        "gamma": recipe.model.gamma, "beta": recipe.model.beta,
        "latent_dim": recipe.model.latent_dim,
        "regularizer": {"mode": reg.mode, "vectorization": reg.vectorization,
                        "filtration": reg.filtration, "projection": reg.projection},
        "seed": recipe.train.seed, "epochs": len(seconds), "epochs_planned": recipe.train.epochs,
        "seconds_per_epoch": statistics.fmean(seconds) if seconds else None,
        "seconds_per_epoch_median": statistics.median(seconds) if seconds else None,
        "recipe": recipe.to_dict(), "run_dir": str(run_dir),
    })


def load_evaluation(run_dir: str | Path) -> RunEvaluation:
    """The stored evaluation of a run (``info`` refreshed from the run's files).

    Raises:
        FileNotFoundError: the run has not been evaluated.
        ValueError: the stored file is not an evaluation.
    """
    run_dir = Path(run_dir)
    path = run_dir / EVALUATION_DIR / _METRICS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has not been evaluated (no {path}); run "
                                f"`toposci evaluate {run_dir}`")
    stored = _read_json(path)
    return RunEvaluation(run_dir, run_info(run_dir), stored["sections"])


def _read_json(path: Path) -> dict[str, Any]:
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it to evaluate again") \
            from err
    if not isinstance(stored, dict) or not isinstance(stored.get("sections"), dict):
        raise ValueError(f"{path} is not a toposci evaluation file")
    return stored


def _write_atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _up_to_date(record: dict[str, Any] | None, options: dict[str, Any], checkpoint: str) -> bool:
    return record is not None and record.get("checkpoint") == checkpoint and \
        record.get("options") == jsonable(options)


def evaluate_run(run_dir: str | Path, options: EvaluationOptions | None = None, *,
                 force: bool = False, device: str = "cpu",
                 progress: bool = True) -> RunEvaluation:
    """Evaluate one run into ``RUN_DIR/evaluation`` (module docstring), skipping finished
    sections.

    Args:
        run_dir: a directory made by ``toposci train``.
        options: sizes and seed (default :class:`EvaluationOptions`).
        force: recompute every section of ``options.sections``.
        device: where the model runs.
        progress: show a progress bar over the sections.

    Returns:
        The :class:`RunEvaluation`; ``computed`` names the sections this call computed.
    """
    from toposci.evaluation.domains import evaluator_for

    options = options or EvaluationOptions()
    run_dir = Path(run_dir)
    info = run_info(run_dir)
    ckpt = run_dir / CHECKPOINT_FILE
    if not ckpt.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT_FILE}; train it first")
    checkpoint = sha256_file(ckpt)
    out_dir = run_dir / EVALUATION_DIR
    out_dir.mkdir(exist_ok=True)
    json_path = out_dir / _METRICS_JSON
    sections = _read_json(json_path)["sections"] if json_path.is_file() else {}
    todo = [s for s in options.sections if force or not _up_to_date(
        sections.get(s), options.for_section(s), checkpoint)]
    if not todo:
        logger.info("%s: evaluation up to date", run_dir)
        return RunEvaluation(run_dir, info, sections)
    evaluator = evaluator_for(RunContext(run_dir, options, device=device))
    bar = tqdm(todo, desc=f"evaluate {run_dir.name}", disable=not progress, leave=False)
    for section in bar:
        bar.set_postfix(section=section)
        t0 = time.perf_counter()
        record: dict[str, Any] = {"options": jsonable(options.for_section(section)),
                                  "checkpoint": checkpoint}
        arrays: dict[str, np.ndarray] = {}
        try:
            result = evaluator.run(section)
            record |= {"status": "done", "metrics": result.metrics}
            arrays = result.arrays
        except SectionSkipped as skip:
            logger.info("%s: %s skipped: %s", run_dir, section, skip)
            record |= {"status": "skipped", "reason": str(skip)}
        record["seconds"] = time.perf_counter() - t0
        npz = out_dir / f"{section}.npz"
        if arrays:
            _write_atomic(npz, lambda p, a=arrays: np.savez_compressed(p, **a))
        else:
            npz.unlink(missing_ok=True)
        sections[section] = record
        payload = {"info": info, "sections": sections}
        _write_atomic(json_path, lambda p, d=payload: p.write_text(json.dumps(d, indent=1)))
    return RunEvaluation(run_dir, info, sections, tuple(todo))


def evaluate_runs(run_dirs: Sequence[str | Path], options: EvaluationOptions | None = None, *,
                  force: bool = False, device: str = "cpu",
                  progress: bool = True) -> list[RunEvaluation]:
    """:func:`evaluate_run` for each run, in order, with a progress bar over the runs."""
    return [evaluate_run(run, options, force=force, device=device, progress=progress)
            for run in tqdm(run_dirs, desc="runs", disable=not progress or len(run_dirs) < 2)]
