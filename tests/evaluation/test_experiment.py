"""Experiment files and the runner: strict files, shared and resumable runs, the manifest."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from toposci.evaluation import experiment as experiment_module
from toposci.evaluation.experiment import (
    DONE_FILE,
    load_experiment,
    load_manifest,
    plan_experiment,
    run_experiment,
)

REPO = Path(__file__).resolve().parents[2]


def test_manifest_lists_every_arm_and_seed(demo_runs: Any) -> None:
    manifest = load_manifest(demo_runs.manifest)
    assert manifest["name"] == "torus-tiny"
    assert set(manifest["arms"]) == {"gamma-0", "gamma-1"}
    for arm, entry in manifest["arms"].items():
        assert set(entry["runs"]) == {"0", "1"}
        for seed, run in entry["runs"].items():
            assert Path(run) == demo_runs.torus[(arm, int(seed))].resolve()
            assert (Path(run) / DONE_FILE).is_file()
            assert (Path(run) / "evaluation" / "metrics.json").is_file()
    assert manifest["comparisons"] == [{"a": "gamma-1", "b": "gamma-0",
                                        "label": "with vs without L_topo"}]


def test_finished_runs_are_skipped(demo_runs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(experiment_module, "train", no_training)
    stored = {run: (run / "evaluation" / "metrics.json").read_text()
              for run in demo_runs.torus.values()}
    result = run_experiment(demo_runs.experiment, demo_runs.manifest.parent, progress=False)
    assert [r["action"] for r in result["runs"]] == ["skipped"] * 4
    for run, text in stored.items():
        assert (run / "evaluation" / "metrics.json").read_text() == text


def test_an_interrupted_run_is_resumed(demo_runs: Any, tmp_path: Path) -> None:
    out = tmp_path / "experiments"
    shutil.copytree(demo_runs.manifest.parent, out)
    name = demo_runs.torus[("gamma-1", 0)].name
    (out / "runs" / name / DONE_FILE).unlink()
    result = run_experiment(demo_runs.experiment, out, evaluate=False, progress=False)
    actions = {(r["arm"], r["seed"]): (r["status"], r["action"]) for r in result["runs"]}
    assert actions.pop(("gamma-1", 0)) == ("interrupted", "resumed")
    assert set(actions.values()) == {("finished", "skipped")}
    assert (out / "runs" / name / DONE_FILE).is_file()


def test_dry_run_writes_nothing(torus_experiment: Callable[..., Path], tmp_path: Path) -> None:
    path = torus_experiment(tmp_path)
    result = run_experiment(path, tmp_path / "out", dry_run=True)
    assert [r["action"] for r in result["runs"]] == ["planned"] * 4
    assert result["manifest"] is None and not (tmp_path / "out").exists()


def test_same_overrides_share_a_run_and_length_keeps_it(
        torus_experiment: Callable[..., Path], tmp_path: Path) -> None:
    spec, recipe = load_experiment(torus_experiment(tmp_path))
    names = {(r.arm, r.seed): r.run_name for r in plan_experiment(spec, recipe)}
    assert len(set(names.values())) == 4
    assert names[("gamma-0", 0)].startswith("torus-demo-s0-")
    other = yaml.safe_load((tmp_path / "torus_tiny.yaml").read_text())
    other |= {"name": "other", "overrides": [*other["overrides"], "train.epochs=5"],
              "arms": {"baseline": ["model.gamma=0"], "strong": ["model.gamma=10"]},
              "comparisons": []}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    spec2, recipe2 = load_experiment(tmp_path / "other.yaml")
    names2 = {(r.arm, r.seed): r.run_name for r in plan_experiment(spec2, recipe2)}
    assert names2[("baseline", 1)] == names[("gamma-0", 1)]  # more epochs: the same run
    assert names2[("strong", 1)] not in names.values()


@pytest.mark.parametrize(("change", "message"), [
    ({"seed": [0]}, "unknown key torus_tiny.yaml.seed; did you mean 'seeds'"),
    ({"seeds": [0, 0]}, "seeds repeat"),
    ({"arms": {}}, "at least one arm"),
    ({"comparisons": [{"a": "gamma-1", "b": "gamma-9"}]}, "unknown arm 'gamma-9'"),
    ({"evaluation": {"samples": 0}}, "samples must be an int >= 1"),
    ({"seeds": "0, 1"}, "seeds must be a list"),
])
def test_experiment_file_errors(torus_experiment: Callable[..., Path], tmp_path: Path,
                                change: dict, message: str) -> None:
    path = torus_experiment(tmp_path)
    raw = yaml.safe_load(path.read_text()) | change
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        load_experiment(path)


def test_missing_files(torus_experiment: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no experiment file"):
        load_experiment(tmp_path / "nope.yaml")
    path = torus_experiment(tmp_path)
    raw = yaml.safe_load(path.read_text()) | {"recipe": "missing.yaml"}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(FileNotFoundError, match="relative to the experiment file"):
        load_experiment(path)
    (tmp_path / "bad.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match="not an experiment manifest"):
        load_manifest(tmp_path / "bad.json")


@pytest.mark.parametrize("path", sorted((REPO / "recipes" / "experiments").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_experiment_files_resolve(path: Path) -> None:
    spec, recipe = load_experiment(path)
    planned = plan_experiment(spec, recipe)
    assert len(planned) == len(spec.arms) * len(spec.seeds) and len(spec.seeds) >= 3
    gammas = {r.arm: r.recipe.model.gamma for r in planned}
    assert 0.0 in gammas.values()  # every experiment has its gamma = 0 baseline
