"""toposci summarize: statistics, resumable storage, the CLI on shipped samples."""

from __future__ import annotations

import json
import logging
import math
import re
import time

import numpy as np
import pytest

from toposci.cli import main
from toposci.summary import run as run_module
from toposci.summary.run import summarize
from toposci.summary.stats import summarize_dimension
from toposci.summary.store import RunStore, load_diagrams

SQRT2 = math.sqrt(2.0)


def test_mean_landscape_and_betti_curve_by_hand() -> None:
    # Two H1 diagrams {(0, 2)} and {(0, 4)} on the grid 0, 1, 2, 3, 4.
    # Tents min(t - b, d - t)+: (0, 2) -> 0 1 0 0 0 and (0, 4) -> 0 1 2 1 0 (times sqrt 2,
    # GUDHI's scaling).
    # Betti (b <= t < d): 1 1 0 0 0 and 1 1 1 1 0.
    s = summarize_dimension([np.array([[0.0, 2.0]]), np.array([[0.0, 4.0]])], 1,
                            num_landscapes=2, resolution=5, sample_range=(0.0, 4.0))
    np.testing.assert_allclose(s.grid, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(s.landscape_mean[0], SQRT2 * np.array([0, 1, 1, 0.5, 0]))
    np.testing.assert_allclose(s.landscape_mean[1], 0.0)
    np.testing.assert_allclose(s.betti_mean, [1, 1, 0.5, 0.5, 0])
    # the band of a two-sample mean: 1.96 * std(ddof=1) / sqrt(2); at t=2 values are 0 and 2*sqrt2
    half = 1.959963984540054 * np.std([0, 2 * SQRT2], ddof=1) / np.sqrt(2)
    assert s.landscape_high[0, 2] - s.landscape_mean[0, 2] == pytest.approx(half)


def test_essential_bars_counted_and_alive_in_betti_curves() -> None:
    s = summarize_dimension([np.array([[0.0, np.inf], [0.0, 1.0]]), np.array([[0.5, np.inf]])],
                            0, resolution=3, sample_range=(0.0, 2.0))
    assert s.essential_counts.tolist() == [1, 1]
    assert s.finite_counts.tolist() == [1, 0]
    # grid 0, 1, 2: sample 1 has 2 bars alive at 0, then 1; sample 2 is born at 0.5
    np.testing.assert_allclose(s.betti_mean, [(2 + 0) / 2, (1 + 1) / 2, (1 + 1) / 2])


def test_no_diagrams_is_an_error() -> None:
    with pytest.raises(ValueError, match="no H1 diagrams"):
        summarize_dimension([], 1)


def test_mnist_sample_summary_has_one_component_per_digit(tmp_path) -> None:
    report = summarize("mnist-sample", tmp_path / "m.npz", limit=40, chunk_size=16,
                       progress=False)
    ids, diagrams = load_diagrams(tmp_path / "m.npz")
    assert len(ids) == 40 and report.n_failed == 0
    # every image is one grid: exactly one essential H0 class, no essential H1 class
    assert all(np.isinf(d[:, 1]).sum() == 1 for d in diagrams[0])
    assert all(np.isfinite(d).all() for d in diagrams[1])
    report_json = json.loads((tmp_path / "m_summary.json").read_text())
    assert report_json["n_summarized"] == 40


def test_resume_computes_only_missing_chunks(tmp_path, monkeypatch) -> None:
    calls: list[int] = []
    real = run_module.run_chunk

    def flaky(task):
        calls.append(task[0])
        if task[0] == 2 and len(calls) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the third chunk
        return real(task)

    monkeypatch.setattr(run_module, "run_chunk", flaky)
    out = tmp_path / "m.npz"
    with pytest.raises(KeyboardInterrupt):
        summarize("mnist-sample", out, limit=50, chunk_size=10, progress=False)
    assert sorted(p.name for p in (tmp_path / "m.npz.parts").glob("chunk_*.npz")) == [
        "chunk_00000.npz", "chunk_00001.npz"]
    with pytest.raises(ValueError, match="--resume"):
        summarize("mnist-sample", out, limit=50, chunk_size=10, progress=False)
    with pytest.raises(ValueError, match="different parameters"):
        summarize("mnist-sample", out, limit=50, chunk_size=25, resume=True, progress=False)
    calls.clear()
    summarize("mnist-sample", out, limit=50, chunk_size=10, resume=True, progress=False)
    assert calls == [2, 3, 4]
    resumed = load_diagrams(out)
    with pytest.raises(ValueError, match="already exists"):
        summarize("mnist-sample", out, limit=50, chunk_size=10, progress=False)
    summarize("mnist-sample", out, limit=50, chunk_size=10, force=True, progress=False)
    fresh = load_diagrams(out)
    assert resumed[0] == fresh[0]
    for d in (0, 1):
        for a, b in zip(resumed[1][d], fresh[1][d]):
            np.testing.assert_array_equal(a, b)


def test_cli_summarize_proteins_parquet_and_plots(tmp_path, capsys) -> None:
    pd = pytest.importorskip("pandas")
    code = main(["summarize", "proteins-sample", "--out", str(tmp_path / "p.parquet"),
                 "--format", "parquet", "--limit", "3", "--plot", str(tmp_path / "plots"),
                 "--quiet"])
    assert code == 0
    table = pd.read_parquet(tmp_path / "p.parquet")
    assert set(table.columns) == {"sample_id", "dim", "birth", "death"}
    assert set(table["dim"]) == {0, 1, 2}
    # one essential H0 class per protein (the alpha complex of a cloud is connected at the end)
    essential = table[np.isinf(table["death"])]
    assert len(essential) == 3 and set(essential["dim"]) == {0}
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert len(pngs) == 5
    assert "summarized 3 of 3" in capsys.readouterr().out


def test_cli_reports_bad_source(tmp_path, capsys) -> None:
    assert main(["summarize", str(tmp_path / "nothing.csv"), "--out", str(tmp_path / "x")]) == 2
    assert "neither a shipped sample" in capsys.readouterr().err


def test_qm9_sample_essential_h1_counts_the_rings(tmp_path, shipped) -> None:
    import csv

    from rdkit import Chem

    summarize("qm9-sample", tmp_path / "q.npz", limit=60, progress=False)
    ids, diagrams = load_diagrams(tmp_path / "q.npz")
    with open(shipped / "qm9" / "qm9_sample.csv") as f:
        smiles = {row["mol_id"]: row["smiles"] for row in csv.DictReader(f)}
    for mol_id, h0, h1 in zip(ids, diagrams[0], diagrams[1]):
        mol = Chem.MolFromSmiles(smiles[mol_id])
        # cycle rank of a connected graph = bonds - atoms + 1; triangles (3-rings) are filled
        # in the clique complex, so they are not essential
        three_rings = sum(len(r) == 3 for r in mol.GetRingInfo().AtomRings())
        rank = mol.GetNumBonds() - mol.GetNumAtoms() + 1
        assert np.isinf(h0[:, 1]).sum() == 1
        assert np.isinf(h1[:, 1]).sum() == rank - three_rings, smiles[mol_id]


def test_two_worker_processes_give_the_same_diagrams(tmp_path, monkeypatch, caplog) -> None:
    # Proteins' alpha view needs no torch, so its worker starts in a fraction of a second; the
    # parent is slowed down at each chunk it writes, so that the worker takes some of the 8.
    one = summarize("proteins-sample", tmp_path / "one.npz", chunk_size=1, progress=False)
    write = RunStore.write

    def slow_write(self, index, result) -> None:
        time.sleep(0.3)
        write(self, index, result)

    monkeypatch.setattr(RunStore, "write", slow_write)
    with caplog.at_level(logging.INFO, logger="toposci.summary.run"):
        summarize("proteins-sample", tmp_path / "two.npz", chunk_size=1, workers=2,
                  progress=False)
    mine = re.search(r"(\d+) of 8 chunks computed in this process", caplog.text)
    assert mine is not None and int(mine.group(1)) < 8, caplog.text  # a worker took some
    first, second = load_diagrams(tmp_path / "one.npz"), load_diagrams(tmp_path / "two.npz")
    assert one.n_samples == 8 and first[0] == second[0]
    for d in (0, 1, 2):
        for a, b in zip(first[1][d], second[1][d], strict=True):
            np.testing.assert_array_equal(a, b)


def test_grid_range_includes_births_of_essential_bars() -> None:
    from toposci.summary.stats import finite_range

    # only essential H1 bars born at 6 and 8 (ring closures in a lower-star filtration)
    assert finite_range([np.array([[6.0, np.inf]]), np.array([[8.0, np.inf]])]) == (6.0, 8.0)
    assert finite_range([np.zeros((0, 2))]) == (0.0, 1.0)


def test_graph_views_batch_a_chunk_and_fail_only_bad_samples() -> None:
    from toposci.summary.views import get_view

    inf = np.inf
    social = get_view("social", "degree").compute([
        (np.array([[0, 1, 2], [1, 2, 0]]), 3),  # triangle: every degree 2, the loop is filled
        (np.array([[0, 1], [1, 1]]), 2),  # a self-loop: this sample fails, the others do not
        (np.array([[0, 1], [1, 2]]), 3),  # path: degrees 1, 2, 1
    ], (0, 1))
    np.testing.assert_array_equal(social[0][0], [[2, inf]])
    assert social[0][1].shape == (0, 2)
    assert isinstance(social[1], str) and "self-loop" in social[1]
    # the two ends are born at 1; the middle node enters at 2 and merges them
    np.testing.assert_array_equal(np.sort(social[2][0], axis=0), [[1, 2], [1, inf]])
    molecules = get_view("molecules", "atomic-number").compute(["C1CC1", "C1CC", "CCO"], (0, 1))
    # cyclopropane: carbons at 6, the 3-ring filled by its triangle; ethanol: the oxygen (8)
    # joins at 8, zero persistence
    for i in (0, 2):
        np.testing.assert_array_equal(molecules[i][0], [[6, inf]])
        assert molecules[i][1].shape == (0, 2)
    assert isinstance(molecules[1], str) and "invalid SMILES" in molecules[1]
