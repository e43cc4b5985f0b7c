"""Evaluation of trained runs: the stored numbers are those of the metric functions called
directly on the same inputs, skipped sections say why, and finished work is not redone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from toposci.domains.qm9 import QM9
from toposci.evaluation.context import RunContext, missing_encoder
from toposci.evaluation.evaluate import EVALUATION_DIR, evaluate_run, load_evaluation
from toposci.evaluation.options import SECTIONS, EvaluationOptions
from toposci.evaluation.sections import Evaluator, SectionSkipped
from toposci.metrics.latent import domain_batches, encode_all, mahalanobis_distance, roc_auc
from toposci.metrics.molecules import molecule_generation_report
from toposci.metrics.ood_sets import molecule_table, nci_molecules
from toposci.metrics.topology import diagram_distances
from toposci.training.trainer import load_run


def test_every_torus_run_is_evaluated_and_ood_says_why_not(demo_runs: Any) -> None:
    for (arm, seed), run in demo_runs.torus.items():
        ev = load_evaluation(run)
        assert ev.info["seed"] == seed and ev.info["gamma"] == (1.0 if arm == "gamma-1" else 0.0)
        assert ev.info["epochs"] == 1 and ev.info["seconds_per_epoch"] > 0
        assert {s for s, r in ev.sections.items() if r["status"] == "done"} == \
            set(SECTIONS) - {"ood"}
        assert "no shifted (out-of-distribution) set" in ev.skipped()["ood"]
        assert ev.metric("generation.validity") == 1.0  # finite points are valid
        assert ev.metric("generation.betti.known") == [1, 2]  # the torus's b0, b1


def test_torus_topology_matches_diagram_distances(demo_runs: Any) -> None:
    """With 200 samples and 200 held-out points every subset is the whole set, so the numbers
    are the diagram distances of the two whole sets (diagrams ignore the order)."""
    run = demo_runs.torus[("gamma-1", 0)]
    ctx = RunContext(run, EvaluationOptions.from_dict(demo_runs.torus_options))
    data = ctx.data.val.double()  # (200, 3): the domain's view is the points themselves
    samples = ctx.samples.views.double()  # (200, 3)
    assert data.shape == samples.shape == (200, 3)
    expected = diagram_distances(torch.cdist(data, data), torch.cdist(samples, samples))
    got = load_evaluation(run)
    assert got.metric("topology.n") == 200
    for key, value in expected.items():
        assert got.metric(f"topology.{key}") == pytest.approx(value, rel=1e-9, abs=1e-12)
    arrays = got.arrays("topology")
    assert set(arrays) == {"data_H0", "data_H1", "samples_H0", "samples_H1"}
    assert arrays["data_H0"].shape == (199, 2)  # 200 points: 199 finite H0 bars


def test_torus_interpolation_and_attacks_are_recorded(demo_runs: Any) -> None:
    ev = load_evaluation(demo_runs.torus[("gamma-0", 1)])
    for kind in ("linear", "spherical"):
        summary = ev.metric(f"interpolation.{kind}")
        assert summary["validity"] == 1.0 and summary["step_ratio"] >= 1.0
        assert summary["length_ratio"] >= 1.0 - 1e-9  # a path is never shorter than its chord
    arrays = ev.arrays("interpolation")
    assert arrays["linear_strip_views"].shape == (3, 5, 3)  # (strip pairs, steps, F)
    assert arrays["linear_path_wasserstein_H1"].shape == (5,)
    attack = ev.metric("robustness.displacement")
    assert attack["n_codes"] == attack["n_eligible"] == 200
    assert 0.0 <= attack["success_rate"] <= 1.0
    assert ev.metric("robustness.primary") == "displacement"


def test_molecule_generation_matches_the_report_function(demo_runs: Any) -> None:
    ctx = RunContext(demo_runs.qm9, demo_runs.qm9_options)
    outputs, generated = ctx.samples.outputs, ctx.samples.generated
    valence = [m for o in outputs for m in ctx.domain.generate(o, correction="valence").items]
    held_out = list(QM9(None, split="test").smiles)
    expected = molecule_generation_report(
        generated.items, training_smiles=ctx.data.info["training_smiles"],
        decoded_valence_aware=valence, reference_smiles=held_out).to_dict()
    ev = load_evaluation(demo_runs.qm9)
    assert ev.metric("generation.n") == 200
    for key in ("validity", "validity_valence_aware", "uniqueness", "novelty",
                "internal_diversity", "scaffold_similarity", "fragment_similarity"):
        assert ev.metric(f"generation.{key}") == pytest.approx(expected[key], nan_ok=True), key
    assert ev.metric("generation.reasons") == expected["reasons"]
    fcd, skipped = ev.metric("generation.fcd"), ev.metric("generation.fcd_skipped")
    assert (fcd is not None and fcd >= 0) or skipped  # fcd_torch present, or the reason why


def test_molecule_ood_auc_matches_a_direct_computation(demo_runs: Any) -> None:
    """``ood_samples`` exceeds every set, so the Mahalanobis AUC is that of all held-out
    molecules against all NCI molecules, with all training codes as the reference."""
    _, domain, model, _ = load_run(demo_runs.qm9)
    data = domain.load()
    reference = encode_all(model, domain_batches(domain, data.train))
    held_out = mahalanobis_distance(encode_all(model, domain_batches(domain, data.val)),
                                    reference)
    nci = nci_molecules(exclude=set(QM9(None, split="all").smiles)).smiles
    shifted = mahalanobis_distance(
        encode_all(model, domain_batches(domain, molecule_table(nci))), reference)
    ev = load_evaluation(demo_runs.qm9)
    assert ev.metric("ood.sets.nci.n") == len(nci)
    assert ev.metric("ood.n_in") == len(data.val)
    assert ev.metric("ood.sets.nci.auc_mahalanobis") == pytest.approx(
        roc_auc(held_out, shifted), abs=1e-9)
    arrays = ev.arrays("ood")
    assert arrays["in__mahalanobis"].shape == (len(data.val),)


def test_molecule_interpolation_strip_and_attacks(demo_runs: Any) -> None:
    ev = load_evaluation(demo_runs.qm9)
    linear = ev.metric("interpolation.linear")
    assert len(linear["strip_smiles"]) == 2 and len(linear["strip_smiles"][0]) == 5
    for smiles, reason in zip(linear["strip_smiles"][0], linear["strip_reasons"][0]):
        assert (smiles is None) == (reason != "ok")
    assert ev.metric("robustness.primary") == "validity"
    for name in ("validity", "logp", "displacement"):
        assert 0 <= ev.metric(f"robustness.{name}.n_eligible") <= 12


def test_resume_skips_finished_sections(demo_runs: Any, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_runs.torus[("gamma-1", 1)], run)
    options = EvaluationOptions.from_dict(demo_runs.torus_options)
    stored = (run / EVALUATION_DIR / "metrics.json").read_text()
    again = evaluate_run(run, options, progress=False)
    assert again.computed == ()
    assert (run / EVALUATION_DIR / "metrics.json").read_text() == stored
    # a changed attack setting redoes the attacks only
    changed = evaluate_run(run, EvaluationOptions.from_dict({**demo_runs.torus_options,
                                                             "attack_steps": 2}),
                           progress=False)
    assert changed.computed == ("robustness",)
    assert changed.metric("robustness.displacement.steps") == 2
    # a new checkpoint (a resumed training) redoes everything
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    ckpt["note"] = "trained further"
    torch.save(ckpt, run / "checkpoint.pt")
    assert evaluate_run(run, options, progress=False).computed == SECTIONS
    assert evaluate_run(run, options, force=True, progress=False,
                        ).computed == SECTIONS


def test_an_interrupted_evaluation_keeps_its_finished_sections(demo_runs: Any,
                                                               tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_runs.torus[("gamma-0", 0)], run)
    shutil.rmtree(run / EVALUATION_DIR)
    options = EvaluationOptions.from_dict(demo_runs.torus_options)
    first = evaluate_run(run, EvaluationOptions.from_dict(
        {**demo_runs.torus_options, "sections": ["generation", "topology"]}), progress=False)
    assert first.computed == ("generation", "topology")
    rest = evaluate_run(run, options, progress=False)
    assert rest.computed == ("interpolation", "ood", "robustness")
    saved = json.loads((run / EVALUATION_DIR / "metrics.json").read_text())
    assert set(saved["sections"]) == set(SECTIONS)


def test_models_without_an_encoder_skip_the_latent_sections(demo_runs: Any) -> None:
    _, _, vae, _ = load_run(demo_runs.qm9)
    assert missing_encoder(vae, "vae") is None
    reason = missing_encoder(nn.Linear(2, 2), "diffusion")  # no encode, posterior, decoder
    assert "diffusion model has no encoder" in reason and "encode, posterior, decoder" in reason
    evaluator = Evaluator(SimpleNamespace(no_encoder_reason=reason))
    for section in ("interpolation", "ood", "robustness"):
        with pytest.raises(SectionSkipped, match="diffusion model has no encoder"):
            evaluator.run(section)


def test_evaluation_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.yaml"):
        evaluate_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="has not been evaluated"):
        load_evaluation(tmp_path)
    with pytest.raises(ValueError, match="unknown sections"):
        EvaluationOptions(sections=("generation", "fid"))
    with pytest.raises(ValueError, match="samples must be an int >= 1"):
        EvaluationOptions(samples=0)
    with pytest.raises(ValueError, match="unknown evaluation option 'sample'"):
        EvaluationOptions.from_dict({"sample": 3})
    with pytest.raises(ValueError, match="attack_norm"):
        EvaluationOptions(attack_norm="l1")
