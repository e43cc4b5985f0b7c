"""Claim checks on hand-made metric tables: the tests agree with SciPy's, and each verdict
(supported / not supported / inconclusive) comes out where the numbers put it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats

from toposci.evaluation.claims import (
    CLAIMS,
    Claim,
    Metric,
    check_claim,
    check_claims,
    compare_arms,
    group_runs,
    holm,
    overall_verdict,
)
from toposci.evaluation.evaluate import RunEvaluation

HIGHER = Metric("interpolation.linear.interior_validity", True, "validity")
LOWER = Metric("robustness.validity.success_rate", False, "attack success")
CLAIM = Claim("demo", "the term helps", "test", {"*": HIGHER})


def table(values: list[float], seeds: list[int] | None = None) -> list[tuple[int, float]]:
    return list(zip(seeds or range(len(values)), values))


def test_paired_test_agrees_with_scipy() -> None:
    base, treated = [0.50, 0.55, 0.47, 0.52], [0.58, 0.60, 0.49, 0.61]
    c = compare_arms(table(base), table(treated), HIGHER)
    assert c.test == "paired t" and c.df == 3
    assert c.improvement == pytest.approx(sum(treated) / 4 - sum(base) / 4)
    assert c.p_value == pytest.approx(stats.ttest_rel(treated, base).pvalue, rel=1e-10)
    # lower is better: the same numbers count against the arm
    flipped = compare_arms(table(base), table(treated), LOWER)
    assert flipped.improvement == pytest.approx(-c.improvement)
    assert flipped.p_value == pytest.approx(c.p_value)


def test_welch_test_when_seeds_differ() -> None:
    base, treated = [0.50, 0.55, 0.47], [0.58, 0.60, 0.49, 0.66]
    c = compare_arms(table(base, [0, 1, 2]), table(treated, [3, 4, 5, 6]), HIGHER)
    expected = stats.ttest_ind(treated, base, equal_var=False)
    assert c.test == "Welch t"
    assert c.p_value == pytest.approx(expected.pvalue, rel=1e-10)
    assert c.df == pytest.approx(expected.df, rel=1e-10)


def test_clear_gain_is_supported_and_clear_loss_is_not() -> None:
    base = table([0.50, 0.52, 0.48, 0.51])
    better = table([0.70, 0.73, 0.69, 0.71])
    worse = table([0.30, 0.33, 0.29, 0.31])
    check = check_claim(CLAIM, "molecules", base, {"up": better, "down": worse})
    assert check.comparisons["up"].verdict == "supported"
    assert check.comparisons["down"].verdict == "not supported"
    assert check.verdict == "inconclusive"  # decisive both ways
    assert check_claim(CLAIM, "molecules", base, {"up": better}).verdict == "supported"


def test_noise_and_too_few_seeds_are_inconclusive() -> None:
    base = table([0.50, 0.70, 0.40])
    noisy = table([0.65, 0.55, 0.50])
    c = check_claim(CLAIM, "molecules", base, {"noisy": noisy}).comparisons["noisy"]
    assert c.verdict == "inconclusive" and c.p_adjusted > 0.05
    one = check_claim(CLAIM, "molecules", table([0.5]), {"one": table([0.9])})
    assert one.comparisons["one"].verdict == "inconclusive"
    assert "fewer than 2 values" in one.comparisons["one"].note
    missing = compare_arms([(0, None), (1, 0.5)], [(0, 0.6), (1, math.nan)], HIGHER)
    assert missing.test == "none"


def test_constant_differences() -> None:
    same = check_claim(CLAIM, "molecules", table([0.5, 0.6]), {"a": table([0.5, 0.6])})
    assert same.comparisons["a"].p_value == 1.0 and same.verdict == "inconclusive"
    # differences exactly 0.25 (binary fractions): zero spread, a certain gain
    shifted = check_claim(CLAIM, "molecules", table([0.5, 0.75]), {"a": table([0.75, 1.0])})
    assert shifted.comparisons["a"].p_value == 0.0 and shifted.verdict == "supported"


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, math.nan]) == pytest.approx([0.5, math.nan], nan_ok=True)
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])


def test_holm_adjustment_can_withhold_support() -> None:
    base = [0.0, 0.0, 0.0]
    arm = [1.0, 1.35, 0.65]  # differences: mean 1, sd 0.35, n 3
    p = stats.ttest_rel(arm, base).pvalue
    assert 0.025 < p < 0.05  # significant alone, not after doubling
    single = check_claim(CLAIM, "social", table(base), {"a": table(arm)})
    assert single.verdict == "supported"
    double = check_claim(CLAIM, "social", table(base), {"a": table(arm), "b": table(arm)})
    assert [c.verdict for c in double.comparisons.values()] == ["inconclusive"] * 2
    assert double.comparisons["a"].p_adjusted == pytest.approx(2 * p)


def test_non_inferiority() -> None:
    claim = Claim("q", "quality is kept", "test", {"*": HIGHER}, kind="non_inferiority",
                  margin=0.1)
    base = [0.80, 0.82, 0.81]
    slightly_worse = [0.79, 0.815, 0.80]
    check = check_claim(claim, "molecules", table(base), {"a": table(slightly_worse)})
    c = check.comparisons["a"]
    margin = 0.1 * sum(base) / 3
    expected = stats.ttest_rel([t + margin for t in slightly_worse], base,
                               alternative="greater").pvalue
    assert c.p_noninferiority == pytest.approx(expected, rel=1e-10)
    assert c.verdict == "supported"
    much_worse = check_claim(claim, "molecules", table(base), {"a": table([0.5, 0.52, 0.49])})
    assert much_worse.verdict == "not supported"
    noisy = check_claim(claim, "molecules", table(base), {"a": table([0.95, 0.5, 0.7])})
    assert noisy.verdict == "inconclusive"


def test_overall_verdict() -> None:
    assert overall_verdict(["supported", "inconclusive"]) == "supported"
    assert overall_verdict(["not supported", "inconclusive"]) == "not supported"
    assert overall_verdict(["supported", "not supported"]) == "inconclusive"
    assert overall_verdict([]) == "inconclusive"


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown claim kind 'better'"):
        compare_arms(table([1, 2]), table([1, 2]), HIGHER, kind="better")
    with pytest.raises(ValueError, match="alpha"):
        check_claim(CLAIM, "molecules", table([1, 2]), {}, alpha=1.5)


def fake_run(name: str, gamma: float, seed: int, mode: str, metrics: dict) -> RunEvaluation:
    recipe = {"name": "r", "domain": "molecules", "data": {"limit": 100},
              "model": {"gamma": gamma, "beta": 0.5},
              "regularizer": {"mode": mode, "vectorization": "landscape"},
              "train": {"seed": seed, "epochs": 5, "threads": 1}, "sample": {"n": 10}}
    info = {"name": "r", "domain": "molecules", "model_kind": "vae", "gamma": gamma,
            "beta": 0.5, "seed": seed, "recipe": recipe,
            "regularizer": {"mode": mode, "vectorization": "landscape"}}
    sections = {s: {"status": "done", "metrics": m} for s, m in metrics.items()}
    sections["ood"] = {"status": "skipped", "reason": "no shifted set here"}
    return RunEvaluation(Path(name), info, sections)


def test_groups_share_the_gamma_zero_baseline_and_claims_read_them() -> None:
    def metrics(valid: float, attack: float) -> dict:
        return {"interpolation": {"linear": {"interior_validity": valid}},
                "robustness": {"validity": {"success_rate": attack}}}

    runs = [fake_run(f"b{s}", 0.0, s, "latent", metrics(0.50 + 0.01 * s, 0.5))
            for s in range(3)]
    # the reconstruction regularizer's gamma = 0 run is the same model: one baseline for both
    runs += [fake_run(f"l{s}", 0.1, s, "latent", metrics(0.80 + 0.01 * s, 0.5))
             for s in range(3)]
    runs += [fake_run(f"r{s}", 0.1, s, "reconstruction", metrics(0.40 - 0.01 * s, 0.5))
             for s in range(3)]
    groups = group_runs(runs)
    assert len(groups) == 2
    assert all(sorted(g.arms) == [0.0, 0.1] and len(g.arms[0.0]) == 3 for g in groups)
    checks = {(c.claim.key, "reconstruction" in c.group): c for c in check_claims(groups)}
    assert checks[("interpolation", False)].verdict == "supported"
    assert checks[("interpolation", True)].verdict == "not supported"
    assert checks[("robustness", False)].verdict == "inconclusive"  # no difference
    ood = checks[("ood", False)].comparisons["\N{GREEK SMALL LETTER GAMMA}=0.1"]
    assert ood.verdict == "inconclusive" and "no shifted set here" in ood.note
    assert {c.claim.key for c in check_claims(groups)} <= {c.key for c in CLAIMS}


def test_verdicts_are_repeated_without_arms_that_lose_sample_quality() -> None:
    from toposci.evaluation.report import _claims

    quality = next(c for c in CLAIMS if c.key == "quality")
    ood = next(c for c in CLAIMS if c.key == "ood")
    base = table([0.80, 0.82, 0.81])
    # arm "collapsed" loses its samples but separates shifted data; arm "fine" keeps both
    checks = [
        check_claim(quality, "molecules", base, {"collapsed": table([0.10, 0.12, 0.09]),
                                                 "fine": table([0.80, 0.815, 0.81])},
                    group="g"),
        check_claim(ood, "molecules", table([0.70, 0.72, 0.71]),
                    {"collapsed": table([0.90, 0.93, 0.91]), "fine": table([0.71, 0.70, 0.73])},
                    group="g"),
    ]
    text = "\n".join(_claims(checks, [], alpha=0.05))
    row = next(line for line in text.splitlines() if line.startswith(f"| {ood.statement}"))
    assert row.split("|")[3].strip() == "**supported**"  # by the collapsed arm alone
    assert row.split("|")[5].strip() == "inconclusive"  # without it
    assert "g collapsed" in text and "g fine" not in text
