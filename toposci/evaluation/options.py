"""How much of each evaluation to compute: sample counts, attack sizes, seeds.

The defaults suit a 2-core CPU (about a minute per QM9 run, most of it the FCD); every count is
an upper bound, lowered to what the held-out split holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["SECTIONS", "EvaluationOptions"]

SECTIONS = ("generation", "topology", "interpolation", "ood", "robustness")
"""The parts of a run's evaluation, in the order they are computed."""

_SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "generation": ("samples", "fcd", "fcd_samples"),
    "topology": ("samples", "topology_samples"),
    "interpolation": ("interpolation_pairs", "interpolation_steps", "strip_pairs"),
    "ood": ("ood_samples",),
    "robustness": ("attack_codes", "attack_epsilon", "attack_steps", "attack_norm",
                   "displacement_fraction", "property_threshold"),
}


@dataclass(frozen=True)
class EvaluationOptions:
    """Sizes of the evaluation of one run.

    Attributes:
        samples: prior samples drawn (generation metrics, topology of the generated set).
        batch_size: samples per decoder / encoder call.
        fcd: compute the Fréchet ChemNet Distance of molecule runs (needs ``fcd_torch``).
        fcd_samples: at most this many valid samples and held-out molecules enter the FCD
            (ChemNet on a CPU: about 14 s per 1,000 molecules).
        topology_samples: points in each of the two Rips diagrams of topology fidelity.
        interpolation_pairs: pairs of held-out samples interpolated (``B``).
        interpolation_steps: decoded points per path, ends included (``T``).
        strip_pairs: paths kept for the interpolation figures.
        ood_samples: held-out samples, training samples (the Mahalanobis reference) and shifted
            samples scored, at most, each.
        attack_codes: codes (posterior means of held-out samples) attacked by PGD.
        attack_epsilon: radius of the PGD ball in latent units.
        attack_steps: PGD steps.
        attack_norm: ``"l2"`` or ``"linf"``.
        displacement_fraction: the displacement attack succeeds when the output view moves by
            more than this fraction of the median distance between held-out data views.
        property_threshold: the molecule property attack succeeds when Crippen logP changes by
            more than this.
        seed: seed of every draw (prior samples, subsets, Monte Carlo ELBO, PGD starts).
        sections: the sections to compute (a subset of :data:`SECTIONS`).
    """

    samples: int = 2000
    batch_size: int = 500
    fcd: bool = True
    fcd_samples: int = 1000
    topology_samples: int = 500
    interpolation_pairs: int = 32
    interpolation_steps: int = 9
    strip_pairs: int = 4
    ood_samples: int = 500
    attack_codes: int = 128
    attack_epsilon: float = 0.5
    attack_steps: int = 10
    attack_norm: str = "l2"
    displacement_fraction: float = 0.25
    property_threshold: float = 1.0
    seed: int = 0
    sections: tuple[str, ...] = SECTIONS

    def __post_init__(self) -> None:
        counts = ("samples", "batch_size", "fcd_samples", "topology_samples",
                  "interpolation_pairs", "strip_pairs", "ood_samples", "attack_codes",
                  "attack_steps")
        for name in counts:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.interpolation_steps < 3:
            raise ValueError(f"interpolation_steps must be >= 3 (two ends and a middle), got "
                             f"{self.interpolation_steps}")
        if self.topology_samples < 3 or self.interpolation_pairs < 2:
            raise ValueError("topology_samples must be >= 3 and interpolation_pairs >= 2")
        for name in ("attack_epsilon", "displacement_fraction", "property_threshold"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.attack_norm not in ("l2", "linf"):
            raise ValueError(f"unknown attack_norm {self.attack_norm!r}; valid: l2, linf")
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown or not self.sections:
            raise ValueError(f"unknown sections {unknown}; valid: {', '.join(SECTIONS)}")

    def for_section(self, section: str) -> dict[str, Any]:
        """The options a section's numbers depend on (a section is recomputed when they
        change): its own fields, ``seed`` and ``batch_size``."""
        fields = ("seed", "batch_size", *_SECTION_FIELDS[section])
        return {name: getattr(self, name) for name in fields}

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["sections"] = list(self.sections)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvaluationOptions:
        """Options from a mapping (e.g. an experiment file's ``evaluation`` section); an
        unknown key is an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown evaluation option {unknown[0]!r}; known: "
                             f"{', '.join(sorted(known))}")
        values = dict(values)
        if "sections" in values:
            values["sections"] = tuple(values["sections"])
        return cls(**values)
