from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from toposci.domains.cache import (
    CacheRecipe,
    ProcessedCache,
    ptr_from_sizes,
    select_segments,
)
from toposci.download import ENV_VAR

RECIPE = CacheRecipe("feat-1", "0" * 64, {"atoms": ["C", "N"], "k": 3})


def payload() -> dict:
    return {"values": torch.arange(6), "ptr": torch.tensor([0, 2, 6]), "names": ["a", "b"]}


def test_save_then_load_gives_the_payload_back(tmp_path: Path) -> None:
    cache = ProcessedCache("demo", root=tmp_path)
    assert cache.path == tmp_path / "processed" / "demo.pt"
    assert cache.load(RECIPE) is None
    cache.save(RECIPE, payload())
    got = cache.load(RECIPE)
    assert got is not None
    assert torch.equal(got["values"], torch.arange(6))
    assert got["names"] == ["a", "b"]
    assert [p.name for p in cache.path.parent.iterdir()] == ["demo.pt"]  # no temporary left


def test_default_root_comes_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    ProcessedCache("demo").save(RECIPE, payload())
    assert (tmp_path / "processed" / "demo.pt").is_file()


@pytest.mark.parametrize(
    ("changed", "names"),
    [
        (CacheRecipe("feat-2", "0" * 64, RECIPE.params), ["featurizer"]),
        (CacheRecipe("feat-1", "1" * 64, RECIPE.params), ["source_sha256"]),
        (CacheRecipe("feat-1", "0" * 64, {"atoms": ["C", "N"], "k": 4}), ["params.k"]),
        (CacheRecipe("feat-1", "0" * 64, {"atoms": ["C", "N"], "k": 3, "new": 1}),
         ["params.new"]),
    ],
)
def test_a_changed_recipe_is_not_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                        changed: CacheRecipe, names: list[str]) -> None:
    assert changed.differences(RECIPE.to_dict()) == names
    cache = ProcessedCache("demo", root=tmp_path)
    cache.save(RECIPE, payload())
    with caplog.at_level(logging.WARNING):
        assert cache.load(changed) is None
    assert names[0] in caplog.text and "rebuilding" in caplog.text


def test_load_or_build_builds_once(tmp_path: Path) -> None:
    calls = []

    def build() -> dict:
        calls.append(1)
        return payload()

    cache = ProcessedCache("demo", root=tmp_path)
    cache.load_or_build(RECIPE, build)
    got = cache.load_or_build(RECIPE, build)
    assert len(calls) == 1 and torch.equal(got["ptr"], torch.tensor([0, 2, 6]))
    cache.load_or_build(CacheRecipe("feat-2", RECIPE.source_sha256, RECIPE.params), build)
    assert len(calls) == 2


@pytest.mark.parametrize("content", [b"", b"not a torch file", None])
def test_a_corrupt_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                    content: bytes | None) -> None:
    cache = ProcessedCache("demo", root=tmp_path)
    cache.save(RECIPE, payload())
    if content is None:  # a readable torch file of the wrong layout
        torch.save({"something": 1}, cache.path)
    else:
        cache.path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        got = cache.load_or_build(RECIPE, payload)
    assert torch.equal(got["values"], torch.arange(6))
    assert "rebuilding" in caplog.text
    assert cache.load(RECIPE) is not None  # rewritten


def test_truncated_cache_is_rebuilt(tmp_path: Path) -> None:
    cache = ProcessedCache("demo", root=tmp_path)
    cache.save(RECIPE, payload())
    cache.path.write_bytes(cache.path.read_bytes()[:100])
    assert cache.load(RECIPE) is None


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ProcessedCache("demo", root=tmp_path)
    cache.save(RECIPE, payload())

    def broken_save(obj: object, f: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cache.save(RECIPE, {"values": torch.zeros(1)})
    monkeypatch.undo()
    assert [p.name for p in cache.path.parent.iterdir()] == ["demo.pt"]
    assert torch.equal(cache.load(RECIPE)["values"], torch.arange(6))


def test_failed_build_writes_nothing(tmp_path: Path) -> None:
    cache = ProcessedCache("demo", root=tmp_path)

    def build() -> dict:
        raise RuntimeError("featurizer crashed")

    with pytest.raises(RuntimeError):
        cache.load_or_build(RECIPE, build)
    assert not cache.path.exists()


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden"])
def test_bad_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="cache name"):
        ProcessedCache(name)


def test_segments() -> None:
    ptr = ptr_from_sizes(torch.tensor([2, 0, 3, 1]))
    assert ptr.tolist() == [0, 2, 2, 5, 6]
    flat = torch.tensor([10, 11, 30, 31, 32, 40])
    element_keep, new_ptr = select_segments(ptr, torch.tensor([True, True, False, True]))
    assert flat[element_keep].tolist() == [10, 11, 40]
    assert new_ptr.tolist() == [0, 2, 2, 3]
    with pytest.raises(ValueError, match="non-negative"):
        ptr_from_sizes(torch.tensor([1, -1]))
    with pytest.raises(ValueError, match="keep"):
        select_segments(ptr, torch.tensor([True, False]))


def test_payload_must_be_loadable(tmp_path: Path) -> None:
    cache = ProcessedCache("demo", root=tmp_path)
    with pytest.raises(ValueError, match=r"payload\['nested'\]\[1\] is a ndarray"):
        cache.save(RECIPE, {"nested": [torch.zeros(1), np.zeros(1)]})
    assert not cache.path.exists()
