"""Model-card metadata of an exported encoder, read from its training run, and the card itself.

The metadata (:func:`card_from_run`) travels inside the encoder file; :func:`render_model_card`
fills the template kept in ``toposci/pretrained/README.md`` (between the ``BEGIN`` / ``END MODEL
CARD TEMPLATE`` markers) with it.
"""

from __future__ import annotations

import csv
import datetime
import json
import logging
import string
from pathlib import Path
from typing import Any

import yaml

from toposci.download import sha256_file

__all__ = ["TEMPLATE_PATH", "card_from_run", "render_model_card"]

logger = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "pretrained" / "README.md"
_BEGIN, _END = "<!-- BEGIN MODEL CARD TEMPLATE -->", "<!-- END MODEL CARD TEMPLATE -->"


def _metrics(run_dir: Path) -> dict[str, Any]:
    """The last row of ``metrics.csv`` (numbers as floats) and the total training seconds."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.csv; is it a finished training run?")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} has no epochs")
    last = {k: float(v) for k, v in rows[-1].items()}
    return {"epochs": int(last.pop("epoch")),
            "train_seconds": sum(float(r["seconds"]) for r in rows),
            "last_epoch": last}


def _sample_report(run_dir: Path, path: str | Path | None) -> dict[str, Any] | None:
    """The given sampling report, else the newest ``*_report.json`` in the run, else None."""
    if path is None:
        found = sorted(run_dir.glob("*_report.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            return None
        path = found[-1]
    path = Path(path)
    report = json.loads(path.read_text())
    if not isinstance(report, dict) or "valid_fraction" not in report:
        raise ValueError(f"{path} is not a sampling report of `toposci sample`")
    return {"file": path.name, **{k: v for k, v in report.items() if k != "files"}}


def _training_data(recipe: dict[str, Any]) -> dict[str, Any]:
    """What the encoder was trained on: source file, its sha256 and the molecule counts."""
    from toposci.domains.qm9 import QM9

    data = recipe["data"]
    info: dict[str, Any] = {"path": data["path"], "split": "gdss_split == train",
                            "limit": data.get("limit"), "max_atoms": data["max_atoms"]}
    try:
        train = QM9(data["path"], split="train")
    except FileNotFoundError as err:
        logger.warning("training data not found at export time (%s); the card records its "
                       "path only", err)
        return info
    n = len(train) if data.get("limit") is None else min(len(train), data["limit"])
    return info | {"source": train.source.name, "source_sha256": sha256_file(train.source),
                   "n_train": n}


def card_from_run(run_dir: str | Path, recipe: dict[str, Any], *, name: str,
                  sample_report: str | Path | None = None) -> dict[str, Any]:
    """Model-card metadata of a training run.

    Args:
        run_dir: the run directory (``metrics.csv`` is read from it).
        recipe: the run's resolved recipe as a plain dict.
        name: the encoder's name.
        sample_report: a ``toposci sample`` JSON report; default the newest ``*_report.json``
            in ``run_dir``, if any.

    Returns:
        Plain values: ``name``, ``created`` (UTC), ``training_data``, ``recipe``, ``metrics``,
        ``sample_report`` (None when there is none).
    """
    from toposci import __version__

    run_dir = Path(run_dir)
    return {
        "name": name,
        "toposci_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "training_data": _training_data(recipe),
        "recipe": recipe,
        "metrics": _metrics(run_dir),
        "sample_report": _sample_report(run_dir, sample_report),
    }


def _template() -> str:
    text = TEMPLATE_PATH.read_text() if TEMPLATE_PATH.is_file() else ""
    start, end = text.find(_BEGIN), text.find(_END)
    if start < 0 or end < start:
        raise FileNotFoundError(f"no model card template between {_BEGIN} and {_END} in "
                                f"{TEMPLATE_PATH}")
    return text[start + len(_BEGIN):end].strip() + "\n"


def _data_lines(data: dict[str, Any]) -> str:
    lines = [f"- source: `{data.get('source', data['path'])}`"]
    if "source_sha256" in data:
        lines.append(f"- source sha256: `{data['source_sha256']}`")
    count = data.get("n_train", "unknown (source not found at export time)")
    lines.append(f"- molecules: {count} ({data['split']}"
                 + (f", first {data['limit']}" if data.get("limit") else "") + ")")
    lines.append(f"- at most {data['max_atoms']} heavy atoms per molecule")
    return "\n".join(lines)


def _metric_lines(metrics: dict[str, Any]) -> str:
    rows = ["| metric | value |", "|---|---|"]
    rows += [f"| {k} | {v:.6g} |" for k, v in metrics["last_epoch"].items()]
    return "\n".join(rows)


def _sampling_lines(report: dict[str, Any] | None) -> str:
    if report is None:
        return "No sampling report was given at export time."
    lines = [f"From `{report['file']}`: {report['n']} samples at temperature "
             f"{report['temperature']}, decoding {report['correction']!r}.", "",
             "| metric | value |", "|---|---|",
             f"| valid fraction | {report['valid_fraction']:.4f} |"]
    for correction, value in report.get("validity_by_correction", {}).items():
        lines.append(f"| validity ({correction}) | {value:.4f} |")
    for key, value in report.get("metrics", {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            lines.append(f"| {key} | {value:.4f} |")
    return "\n".join(lines)


def render_model_card(card: dict[str, Any], *, payload_sha256: str, atom_types: list[str],
                      latent_dim: int) -> str:
    """The model card (Markdown) of an encoder file from its metadata.

    Args:
        card: metadata from :func:`card_from_run`.
        payload_sha256: the file header's sha256, printed so a reader can check the file.
        atom_types: the encoder's element vocabulary.
        latent_dim: ``d``, the embedding width.
    """
    recipe = card["recipe"]
    enc = recipe["model"]["encoder"]
    return string.Template(_template()).substitute(
        name=card["name"], toposci_version=card["toposci_version"], created=card["created"],
        payload_sha256=payload_sha256, latent_dim=latent_dim,
        atom_types=", ".join(atom_types), max_atoms=card["training_data"]["max_atoms"],
        encoder=f"GINE, {enc['layers']} layers of width {enc['hidden']}, readout "
                f"{enc['out_features']}",
        recipe_name=recipe["name"], data=_data_lines(card["training_data"]),
        epochs=card["metrics"]["epochs"],
        train_minutes=f"{card['metrics']['train_seconds'] / 60:.1f}",
        metrics=_metric_lines(card["metrics"]), sampling=_sampling_lines(card["sample_report"]),
        config=yaml.safe_dump(recipe, sort_keys=False).rstrip(),
    )
