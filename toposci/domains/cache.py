"""A processed-data cache that records how it was made and rebuilds itself when that changes.

A domain featurizes its raw files once and stores the result as one file
``<root>/processed/<name>.pt``; ``root`` is ``$TOPOSCI_DATA`` if set, else ``~/.cache/toposci``.
The file holds a *payload* (a dict of tensors, plus plain lists / numbers / strings) and the
*recipe* it was made with: the featurizer's version string, its parameters and the sha256 of
the source file. On load the stored recipe is compared with the caller's; any difference, an
unreadable file or a missing one means the payload is rebuilt and rewritten — a stale cache is
never silently reused. Writes are atomic (a temporary file in the same folder, then rename).

Store a whole data set as a few concatenated tensors plus offsets (:func:`ptr_from_sizes`,
:func:`select_segments`), not one file per sample: loading then costs one ``torch.load``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from toposci._files import torch_save_atomic
from toposci.download import data_root

__all__ = [
    "CacheRecipe",
    "ProcessedCache",
    "ptr_from_sizes",
    "select_segments",
]

logger = logging.getLogger(__name__)

_LAYOUT_VERSION = 1  # version of the file layout below ({"layout", "recipe", "payload"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class CacheRecipe:
    """How a payload was made; two recipes must be equal for a cached payload to be reused.

    Attributes:
        featurizer: a version string the domain bumps whenever its featurization changes.
        source_sha256: sha256 of the raw source file.
        params: every other setting that changes the payload (plain JSON-like values).
    """

    featurizer: str
    source_sha256: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "featurizer": self.featurizer,
            "source_sha256": self.source_sha256,
            "params": dict(self.params),
        }

    def differences(self, stored: Mapping[str, Any]) -> list[str]:
        """Names of the entries in which a stored recipe dict differs from this one."""
        mine = self.to_dict()
        diff = [k for k in ("featurizer", "source_sha256") if stored.get(k) != mine[k]]
        theirs = stored.get("params", {})
        if not isinstance(theirs, Mapping):
            return [*diff, "params"]
        keys = sorted(set(mine["params"]) | set(theirs), key=str)
        return diff + [f"params.{k}" for k in keys if mine["params"].get(k) != theirs.get(k)]


class ProcessedCache:
    """One processed-cache file, ``<root>/processed/<name>.pt``.

    Args:
        name: file stem; letters, digits, ``_ . -`` (no path separators).
        root: data root; default :func:`data_root` (read when the cache is used).
    """

    def __init__(self, name: str, *, root: str | Path | None = None) -> None:
        if not _NAME.match(name):
            raise ValueError(
                f"cache name {name!r} must start with a letter or digit and contain only "
                "letters, digits, '_', '.', '-'"
            )
        self.name = name
        self.root = root

    @property
    def path(self) -> Path:
        root = data_root() if self.root is None else Path(self.root).expanduser()
        return root / "processed" / f"{self.name}.pt"

    def load(self, recipe: CacheRecipe) -> dict[str, Any] | None:
        """The cached payload if the file exists, is readable and was made by ``recipe``.

        Returns:
            the payload, or None (with the reason logged) when it must be rebuilt.
        """
        path = self.path
        if not path.is_file():
            logger.info("no processed cache at %s; building it", path)
            return None
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # any unreadable file (truncated, not a torch file, ...)
            logger.warning("processed cache %s is unreadable (%s); rebuilding it", path, err)
            return None
        if (
            not isinstance(stored, dict)
            or stored.get("layout") != _LAYOUT_VERSION
            or not isinstance(stored.get("recipe"), dict)
            or not isinstance(stored.get("payload"), dict)
        ):
            logger.warning("processed cache %s has an unknown layout; rebuilding it", path)
            return None
        changed = recipe.differences(stored["recipe"])
        if changed:
            logger.warning(
                "processed cache %s was made differently (%s changed); rebuilding it",
                path, ", ".join(changed),
            )
            return None
        return stored["payload"]

    def save(self, recipe: CacheRecipe, payload: Mapping[str, Any]) -> None:
        """Write ``payload`` with its recipe atomically (temporary file, then rename).

        Args:
            recipe: how the payload was made.
            payload: tensors and plain values (str, int, float, bool, None, and lists, tuples
                and str-keyed dicts of them) — what ``torch.load(weights_only=True)`` reads
                back; anything else (e.g. numpy arrays) is a ValueError, since it could never
                be loaded and the cache would be rebuilt forever.
        """
        _check_plain(payload, "payload")
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        content = {"layout": _LAYOUT_VERSION, "recipe": recipe.to_dict(), "payload": dict(payload)}
        torch_save_atomic(content, path)

    def load_or_build(
        self, recipe: CacheRecipe, build: Callable[[], Mapping[str, Any]]
    ) -> dict[str, Any]:
        """The cached payload made by ``recipe``, or ``build()``'s result, saved first."""
        payload = self.load(recipe)
        if payload is None:
            payload = dict(build())
            self.save(recipe, payload)
        return payload


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, Tensor | str | int | float | bool) or value is None:
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        for k, item in value.items():
            _check_plain(item, f"{where}[{k!r}]")
        return
    raise ValueError(
        f"{where} is a {type(value).__name__}; a cache payload holds only tensors and plain "
        "Python values (convert numpy arrays with torch.from_numpy)"
    )


def ptr_from_sizes(sizes: Tensor) -> Tensor:
    """Offsets of consecutive segments: ``ptr[0] = 0``, ``ptr[g + 1] = ptr[g] + sizes[g]``.

    Shapes:
        ``sizes (G,)`` -> ``ptr (G + 1,)`` long; segment ``g`` is ``flat[ptr[g]:ptr[g + 1]]``.
    """
    sizes = torch.as_tensor(sizes, dtype=torch.long)
    if sizes.ndim != 1 or (sizes < 0).any():
        raise ValueError("sizes must be a 1-D tensor of non-negative segment lengths")
    return torch.cat([sizes.new_zeros(1), sizes.cumsum(0)])


def select_segments(ptr: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
    """Keep some segments of a concatenated store.

    Args:
        ptr: offsets of ``G`` segments in a flat tensor of ``T`` elements.
        keep: which segments to keep.

    Returns:
        ``(element_keep, new_ptr)``: a mask over the flat elements (index the flat tensor along
        its segment dimension with it) and the offsets of the kept segments.

    Shapes:
        ``ptr (G + 1,)``, ``keep (G,)`` bool -> ``element_keep (T,)`` bool, ``new_ptr (G' + 1,)``.
    """
    sizes = ptr.diff()  # (G,)
    if keep.dtype != torch.bool or keep.shape != sizes.shape:
        raise ValueError(f"keep must be a bool tensor of shape (G,) = {tuple(sizes.shape)}")
    return keep.repeat_interleave(sizes), ptr_from_sizes(sizes[keep])
