"""summarize --shard i/n on several machines, then --merge: the same outputs as a single run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toposci.cli import main
from toposci.domains.images import load_mnist
from toposci.summary.run import summarize
from toposci.summary.store import load_diagrams


@pytest.fixture
def images_with_bad_ones(tmp_path):
    """45 shipped MNIST digits as a .npy source; images 3 and 30 hold NaN pixels (they fail)."""
    images = load_mnist(split="train")[0][:45, 0].double().numpy()  # (45, 28, 28)
    images[3, 5, 5] = np.nan
    images[30, 0, 0] = np.nan
    path = tmp_path / "digits.npy"
    np.save(path, images)
    return path


def _assert_same_diagrams(a, b) -> None:
    ids_a, dgms_a = load_diagrams(a)
    ids_b, dgms_b = load_diagrams(b)
    assert ids_a == ids_b
    assert sorted(dgms_a) == sorted(dgms_b)
    for d in dgms_a:
        assert len(dgms_a[d]) == len(dgms_b[d]) == len(ids_a)
        for x, y in zip(dgms_a[d], dgms_b[d]):
            np.testing.assert_array_equal(x, y)


def test_three_shards_merge_to_the_single_run(tmp_path, images_with_bad_ones) -> None:
    source = str(images_with_bad_ones)
    common = {"chunk_size": 7, "progress": False}  # 7 chunks: shards hold {0,3,6} {1,4} {2,5}
    single = summarize(source, tmp_path / "single.npz", **common)
    shards = [summarize(source, tmp_path / f"s{i}.npz", shard=(i, 3), **common)
              for i in range(3)]
    assert [s.n_samples for s in shards] == [7 + 7 + 3, 7 + 7, 7 + 7]
    assert [s.n_failed for s in shards] == [1, 1, 0]  # image 3: chunk 0, image 30: chunk 4
    assert not (tmp_path / "s0.npz.parts").exists()
    merged = summarize(source, tmp_path / "merged.npz",
                       merge=[tmp_path / "s2.npz", tmp_path / "s0.npz", tmp_path / "s1.npz"],
                       **common)
    assert merged.n_samples == single.n_samples == 45
    assert merged.n_failed == single.n_failed == 2
    assert merged.seconds == pytest.approx(sum(s.seconds for s in shards))
    _assert_same_diagrams(tmp_path / "single.npz", tmp_path / "merged.npz")

    with np.load(tmp_path / "single_summary.npz") as a, \
            np.load(tmp_path / "merged_summary.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    one = json.loads((tmp_path / "single_summary.json").read_text())
    many = json.loads((tmp_path / "merged_summary.json").read_text())
    assert many["failures"] == one["failures"] == [
        {"id": "image_3", "reason": "image has NaN or inf pixels"},
        {"id": "image_30", "reason": "image has NaN or inf pixels"}]
    assert many["parameters"]["shards"] == 3
    assert many["dimensions"] == one["dimensions"]


def test_shard_files_are_readable_diagram_files(tmp_path, images_with_bad_ones) -> None:
    summarize(str(images_with_bad_ones), tmp_path / "s1.npz", chunk_size=10, shard=(1, 2),
              progress=False)
    ids, dgms = load_diagrams(tmp_path / "s1.npz")
    # chunks 1 and 3 of 0..4: images 10..19 and 30..39, but image 30 failed
    assert ids == [f"image_{i}" for i in (*range(10, 20), *range(31, 40))]
    assert all(np.isinf(d[:, 1]).sum() == 1 for d in dgms[0])  # one essential component each


def test_cli_shards_and_merge(tmp_path, capsys) -> None:
    base = ["summarize", "mnist-sample", "--limit", "20", "--chunk-size", "6", "--quiet"]
    for i in range(2):
        assert main([*base, "--out", str(tmp_path / f"part{i}"), "--shard", f"{i}/2"]) == 0
    assert "combine all shards with --merge" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "all"), "--merge", str(tmp_path / "part0.npz"),
                 str(tmp_path / "part1.npz")]) == 0
    assert "summarized 20 of 20" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "one")]) == 0
    _assert_same_diagrams(tmp_path / "one.npz", tmp_path / "all.npz")
    with pytest.raises(SystemExit):
        main([*base, "--out", str(tmp_path / "x"), "--shard", "1of2"])
    assert "expected I/N" in capsys.readouterr().err


def test_merge_refuses_incomplete_or_foreign_shards(tmp_path) -> None:
    run = {"limit": 12, "chunk_size": 4, "progress": False}
    for i in range(3):
        summarize("mnist-sample", tmp_path / f"s{i}.npz", shard=(i, 3), **run)
    parts = [tmp_path / f"s{i}.npz" for i in range(3)]
    with pytest.raises(ValueError, match=r"shards \[1\] of 3 are missing"):
        summarize("mnist-sample", tmp_path / "m.npz", merge=[parts[0], parts[2]], **run)
    with pytest.raises(ValueError, match="given twice"):
        summarize("mnist-sample", tmp_path / "m.npz", merge=[*parts, parts[1]], **run)
    with pytest.raises(ValueError, match=r"different parameters.*chunk_size"):
        summarize("mnist-sample", tmp_path / "m.npz", merge=parts, limit=12, chunk_size=6,
                  progress=False)
    with pytest.raises(ValueError, match=r"different parameters.*limit, n_samples"):
        summarize("mnist-sample", tmp_path / "m.npz", merge=parts, limit=16, chunk_size=4,
                  progress=False)
    summarize("mnist-sample", tmp_path / "two.npz", shard=(0, 2), **run)
    with pytest.raises(ValueError, match="split the run in different ways"):
        summarize("mnist-sample", tmp_path / "m.npz", merge=[*parts, tmp_path / "two.npz"],
                  **run)
    with pytest.raises(ValueError, match="does not exist"):
        summarize("mnist-sample", tmp_path / "m.npz", merge=[tmp_path / "nope.npz"], **run)
    summarize("mnist-sample", tmp_path / "full.npz", **run)
    with pytest.raises(ValueError, match="not a shard file"):
        summarize("mnist-sample", tmp_path / "m.npz", merge=[tmp_path / "full.npz"], **run)
    summarize("mnist-sample", tmp_path / "m.npz", merge=parts, **run)
    with pytest.raises(ValueError, match="already exists"):
        summarize("mnist-sample", tmp_path / "m.npz", merge=parts, **run)


def test_merge_checks_the_samples_not_just_the_parameters(tmp_path) -> None:
    # Same parameters, other molecules: the shard's ids are not the merging source's.
    (tmp_path / "a.smi").write_text("CCO m1\nc1ccccc1 m2\nCC(=O)O m3\n")
    (tmp_path / "b.smi").write_text("CCO x1\nc1ccccc1 x2\nCC(=O)O x3\n")
    run = {"chunk_size": 2, "progress": False}
    summarize(str(tmp_path / "a.smi"), tmp_path / "a0.npz", shard=(0, 2), **run)
    summarize(str(tmp_path / "a.smi"), tmp_path / "a1.npz", shard=(1, 2), **run)
    with pytest.raises(ValueError, match=r"chunk 0 .* other data"):
        summarize(str(tmp_path / "b.smi"), tmp_path / "m.npz",
                  merge=[tmp_path / "a0.npz", tmp_path / "a1.npz"], **run)
    # the same data under another path (another machine) merges
    (tmp_path / "copy.smi").write_text((tmp_path / "a.smi").read_text())
    report = summarize(str(tmp_path / "copy.smi"), tmp_path / "m.npz",
                       merge=[tmp_path / "a0.npz", tmp_path / "a1.npz"], **run)
    assert report.n_samples == 3 and report.n_failed == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"shard": (3, 3)}, r"0 <= i < n"),
    ({"shard": (0, 0)}, r"n >= 1"),
    ({"shard": (0, 2), "fmt": "parquet"}, "choose --format"),
    ({"shard": (0, 2), "plot_dir": "figs"}, "--plot when merging"),
    ({"shard": (0, 2), "merge": ["a.npz"]}, "one or the other"),
    ({"merge": ["a.npz"], "resume": True}, "nothing to --resume"),
    ({"merge": []}, "no shard files"),
])
def test_bad_shard_options(tmp_path, options, message) -> None:
    with pytest.raises(ValueError, match=message):
        summarize("mnist-sample", tmp_path / "x.npz", limit=4, progress=False, **options)
