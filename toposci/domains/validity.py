"""The structured result every domain's validity check returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Validity", "count_reasons"]


@dataclass(frozen=True)
class Validity:
    """Whether one sample is valid for its domain, and if not, which rule it broke.

    Attributes:
        valid: True when every rule of the domain holds.
        reason: ``"ok"`` when valid, else a short machine-readable rule name such as
            ``"valence"``, ``"disconnected"``, ``"ca_spacing"``; each domain documents its names.
        detail: a human-readable sentence about the failure (empty when valid).
    """

    valid: bool
    reason: str = "ok"
    detail: str = ""

    @classmethod
    def ok(cls) -> Validity:
        return cls(True)

    @classmethod
    def fail(cls, reason: str, detail: str = "") -> Validity:
        if reason == "ok":
            raise ValueError("a failed validity check needs a reason other than 'ok'")
        return cls(False, reason, detail)

    def __bool__(self) -> bool:
        return self.valid


def count_reasons(results: Iterable[Validity]) -> Counter[str]:
    """Count results by reason (``"ok"`` for the valid ones)."""
    return Counter(r.reason for r in results)
