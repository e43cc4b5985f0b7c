"""What each built-in domain adds to the generic evaluation of :mod:`toposci.evaluation.sections`.

* **molecules** — generation: validity of both decodings, uniqueness, novelty, IntDiv, Scaf,
  Frag, FCD; topology space: Morgan fingerprints with Tanimoto distance; shifted set: the NCI
  molecules that fit the model and are not in the data file; attacks: validity (primary), logP
  change, displacement.
* **images** — generation: validity, ink, classifier Fréchet distance; topology space: pixels;
  shifted sets: held-out digits rotated by 90 degrees and inverted; attacks: class change
  (primary), displacement.
* **proteins** — generation: validity and CA-CA statistics; topology space: coordinates;
  shifted sets: shuffled and random-walk decoys of held-out fragments; attacks: validity
  (primary), displacement.
* **social** — generation: validity, degree and clustering MMD; topology space: adjacency and
  node mask; no shifted set; attacks: validity (primary), displacement.
* **synthetic** — generation: the Betti numbers of the generated cloud; topology space:
  coordinates; no shifted set; attacks: displacement.

A domain outside this table (``domain: package.module:Class``) gets the generic
:class:`~toposci.evaluation.sections.Evaluator`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from toposci.evaluation.context import RunContext
from toposci.evaluation.sections import (
    Evaluator,
    SectionSkipped,
    ValidityEvaluator,
)
from toposci.metrics.latent import AttackCriterion, ClassChange, PropertyChange, ValidityLoss

__all__ = ["EVALUATORS", "ImageEvaluator", "MoleculeEvaluator", "ProteinEvaluator",
           "SocialEvaluator", "SyntheticEvaluator", "evaluator_for"]


class MoleculeEvaluator(ValidityEvaluator):
    """QM9-style molecules: the standard generation metrics and chemistry-aware views."""

    background_points = 0  # the interpolation figure draws molecules

    # ------------------------------------------------------------------ reference sets
    @functools.cached_property
    def held_out_smiles(self) -> list[str]:
        """Canonical SMILES of the held-out molecules the run validates on."""
        from toposci.domains.qm9 import QM9

        opts = self.ctx.recipe.data
        smiles = QM9(opts.path, split="test").smiles
        smiles = [smiles] if isinstance(smiles, str) else list(smiles)
        return smiles[:opts.val_limit] if opts.val_limit else smiles

    def _valid_smiles(self) -> list[str]:
        generated = self.ctx.samples.generated
        return [m.smiles for m, ok in zip(generated.items, generated.validity, strict=True)
                if ok]

    def _pick(self, items: list[str], n: int, purpose: str) -> list[str]:
        return [items[i] for i in self.ctx.pick(len(items), n, purpose).tolist()]

    # ------------------------------------------------------------------ generation
    def generation_metrics(self) -> dict[str, Any]:
        from toposci.metrics.molecules import (
            frechet_chemnet_distance,
            molecule_generation_report,
        )

        ctx = self.ctx
        valence = [m for output in ctx.samples.outputs
                   for m in ctx.domain.generate(output, correction="valence").items]
        report = molecule_generation_report(
            ctx.samples.generated.items, training_smiles=ctx.data.info["training_smiles"],
            decoded_valence_aware=valence, reference_smiles=self.held_out_smiles)
        out = report.to_dict()
        for key in ("n_generated", "validity", "reasons", "fcd"):
            out.pop(key)
        out["fcd"] = None
        if ctx.options.fcd:
            valid, cap = self._valid_smiles(), ctx.options.fcd_samples
            if len(valid) < 2:
                out["fcd_skipped"] = f"{len(valid)} valid samples; the FCD needs 2"
            else:
                try:
                    generated = self._pick(valid, cap, "fcd samples")
                    reference = self._pick(self.held_out_smiles, cap, "fcd reference")
                    out["fcd"] = frechet_chemnet_distance(generated, reference)
                    out["fcd_n"] = [len(generated), len(reference)]
                except ImportError as err:
                    out["fcd_skipped"] = str(err)
        return out

    # ------------------------------------------------------------------ topology
    def topology_distances(self) -> tuple[Tensor, Tensor, str]:
        from toposci.domains.fingerprints import tanimoto_distances

        valid = self._valid_smiles()
        n = min(self.ctx.options.topology_samples, len(valid), len(self.held_out_smiles))
        if n < 3:
            raise SectionSkipped(f"{len(valid)} valid samples; the diagrams need 3")
        picks = (self._pick(self.held_out_smiles, n, "topology data"),
                 self._pick(valid, n, "topology samples"))
        data, samples = (torch.as_tensor(tanimoto_distances(p), dtype=torch.float64)
                         for p in picks)
        return data, samples, "Tanimoto distance of Morgan fingerprints (radius 2, 2048 bits)"

    # ------------------------------------------------------------------ interpolation
    def strip_extra(self, codes: Tensor) -> dict[str, Any]:
        S, T, d = codes.shape
        with torch.no_grad():
            decoded = self.ctx.domain.generate(self.ctx.model.decoder(codes.reshape(S * T, d)))
        smiles = [m.smiles if ok else None for m, ok in zip(decoded.items, decoded.validity,
                                                            strict=True)]
        reasons = [v.reason for v in decoded.validity]
        return {"strip_smiles": [smiles[s * T:(s + 1) * T] for s in range(S)],
                "strip_reasons": [reasons[s * T:(s + 1) * T] for s in range(S)]}

    # ------------------------------------------------------------------ OOD
    def shifted_sets(self, in_idx: Tensor) -> dict[str, tuple[Any, Tensor]]:
        from toposci.domains.qm9 import QM9
        from toposci.metrics.ood_sets import molecule_table, nci_molecules

        opts = self.ctx.recipe.data
        known = QM9(opts.path, split="all").smiles
        nci = nci_molecules(max_atoms=opts.max_atoms, exclude=set(known))
        if len(nci.smiles) < 2:
            raise SectionSkipped(f"only {len(nci.smiles)} NCI molecules fit the model")
        table = molecule_table(nci.smiles, max_atoms=opts.max_atoms)
        return {"nci": (table, self.ctx.pick(len(nci.smiles), self.ctx.options.ood_samples,
                                             "ood nci"))}

    # ------------------------------------------------------------------ robustness
    def attack_criteria(self) -> dict[str, AttackCriterion]:
        domain = self.ctx.domain

        def logp(output: Any) -> Tensor:
            from rdkit.Chem import Crippen

            decoded = domain.generate(output)
            return torch.tensor([Crippen.MolLogP(m.mol) if ok else math.nan
                                 for m, ok in zip(decoded.items, decoded.validity,
                                                  strict=True)], dtype=torch.float64)

        return {"validity": ValidityLoss(domain),
                "logp": PropertyChange(logp, self.ctx.options.property_threshold,
                                       differentiable=False, view=domain.output_view)}


class ImageEvaluator(Evaluator):
    """MNIST digits: the classifier Fréchet distance, transformed digits, class changes."""

    primary_attack = "class_change"
    background_points = 0  # the interpolation figure draws images

    @functools.cached_property
    def classifier(self) -> torch.nn.Module:
        """The project's MNIST classifier, trained on the run's training images (cached)."""
        from toposci.metrics.images import cached_mnist_classifier

        return cached_mnist_classifier(self.ctx.recipe.data.path).to(self.ctx.device)

    def generation_metrics(self) -> dict[str, Any]:
        from toposci.metrics.images import image_frechet_distance

        ctx = self.ctx
        out = super().generation_metrics()
        generated = torch.stack(ctx.samples.generated.items).unsqueeze(1)  # (n, 1, 28, 28)
        generated = generated.nan_to_num(0.0, 0.0, 0.0).to(ctx.device)
        idx = self._held_out(ctx.options.samples, "frechet reference")
        reference = ctx.data.val[idx].to(ctx.device)  # (m, 1, 28, 28)
        out["frechet_classifier"] = image_frechet_distance(self.classifier, generated,
                                                           reference)
        out["frechet_n"] = [generated.shape[0], reference.shape[0]]
        return out

    def shifted_sets(self, in_idx: Tensor) -> dict[str, tuple[Any, Tensor]]:
        from toposci.metrics.ood_sets import invert_images, rotate_images

        images = self.ctx.data.val[in_idx]  # (n, 1, 28, 28)
        every = torch.arange(images.shape[0])
        return {"rotated90": (rotate_images(images, 90.0), every),
                "inverted": (invert_images(images), every)}

    def attack_criteria(self) -> dict[str, AttackCriterion]:
        return {"class_change": ClassChange(self.classifier, self.ctx.domain.output_view)}


class ProteinEvaluator(ValidityEvaluator):
    """C-alpha fragments: decoys with real CA-CA spacing as the shifted sets."""

    def shifted_sets(self, in_idx: Tensor) -> dict[str, tuple[Any, Tensor]]:
        from toposci.metrics.ood_sets import DECOY_KINDS, protein_decoys

        fragments = self.ctx.data.val[in_idx]  # (n, L, 3)
        every = torch.arange(fragments.shape[0])
        return {kind: (protein_decoys(fragments, kind=kind, seed=self.ctx.options.seed), every)
                for kind in DECOY_KINDS}


class SocialEvaluator(ValidityEvaluator):
    """Social graphs: the domain's degree and clustering MMD; no shifted set."""


class SyntheticEvaluator(Evaluator):
    """Points of a known space: the Betti check of the generated cloud."""

    def generation_metrics(self) -> dict[str, Any]:
        out = super().generation_metrics()
        if "betti" in out:
            found, known = (tuple(out["betti"][k]) for k in ("found", "known"))
            out["betti_match"] = float(np.array_equal(found, known))
        return out


EVALUATORS: dict[str, type[Evaluator]] = {
    "molecules": MoleculeEvaluator,
    "images": ImageEvaluator,
    "proteins": ProteinEvaluator,
    "social": SocialEvaluator,
    "synthetic": SyntheticEvaluator,
}
"""The evaluator of each built-in domain, by the domain's ``name``."""


def evaluator_for(ctx: RunContext) -> Evaluator:
    """The evaluator of the run's domain (the generic one for domains not listed)."""
    return EVALUATORS.get(ctx.domain.name, Evaluator)(ctx)
