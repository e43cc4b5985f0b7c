"""Do the proposals' claims hold? Runs with the topological term (γ > 0) against γ = 0, over seeds.

**Groups.** Runs are grouped by their resolved recipe with the run-specific entries removed
(``name``, ``model.gamma``, ``train.seed``, ``train.device``, ``train.threads``,
``train.time_budget_minutes`` and the ``sample`` section). A γ = 0 run does not use its
``regularizer`` section, so it is the baseline of every group that differs from it only there:
one set of plain-VAE seeds serves the latent and the reconstruction regularizer alike.

**The test.** For one metric, the arm at γ > 0 is compared with the γ = 0 baseline:

* *paired t-test* over seeds when both arms hold the same seeds (each once, at least 2): the
  differences ``d_s = sign * (treated_s - baseline_s)`` have mean ``D``, standard error
  ``sd(d) / sqrt(n)`` and ``n - 1`` degrees of freedom;
* otherwise *Welch's t-test*: ``D = sign * (mean_t - mean_b)``, standard error
  ``sqrt(v_t / n_t + v_b / n_b)``, Welch–Satterthwaite degrees of freedom;

with ``sign`` = +1 when higher is better and -1 when lower is, so ``D > 0`` always favours the
topological term. The two-sided p-value of ``D = 0`` is Holm-adjusted over the γ > 0 arms of the
same claim and group (Holm, Scand. J. Statist. 1979), at level α = 0.05 by default.

**Verdicts.** A claim of *superiority* ("better interpolation") is **supported** when the
adjusted p < α and ``D > 0``, **not supported** when the adjusted p < α and ``D < 0`` (the data
show the opposite), and **inconclusive** otherwise, including when an arm has fewer than 2
values. A claim of *non-inferiority* ("sample quality is not degraded") uses a margin
``m = margin * |baseline mean|`` (10 %): **supported** when the one-sided test of
``D <= -m`` rejects (adjusted p < α), **not supported** when the two-sided test shows a
significant loss, **inconclusive** otherwise. Each claim is judged on one *primary* metric per
domain (fixed here, before any data is seen); the other metrics listed are shown, not tested.
A claim's overall verdict over all its comparisons is "supported" when at least one comparison
supports it and none contradicts it, "not supported" in the mirror case, and "inconclusive"
otherwise (no comparison, none decisive, or decisive both ways).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scipy import stats

GAMMA = "\N{GREEK SMALL LETTER GAMMA}"

__all__ = ["CLAIMS", "GAMMA", "KINDS", "RUNTIME", "VERDICTS", "Claim", "ClaimCheck", "Comparison",
           "Metric", "RunGroup", "check_claim", "check_claims", "compare_arms", "group_runs",
           "holm", "overall_verdict"]

VERDICTS = ("supported", "not supported", "inconclusive")
KINDS = ("superiority", "non_inferiority")

Table = Sequence[tuple[int, float | None]]
"""``(seed, value)`` of each run of an arm; None where the run has no value."""


@dataclass(frozen=True)
class Metric:
    """A number of the evaluation, by dotted path (:meth:`RunEvaluation.metric`)."""

    path: str
    higher_is_better: bool
    label: str


@dataclass(frozen=True)
class Claim:
    """A claim of the proposals and how the evaluation tests it.

    Attributes:
        key: short name.
        statement: the claim in words.
        source: where the proposals make it.
        primary: the tested metric by domain name; ``"*"`` for the domains not named. A domain
            without an entry is not tested.
        secondary: metrics shown beside it, not tested.
        kind: ``"superiority"`` or ``"non_inferiority"``.
        margin: the non-inferiority margin, a fraction of the baseline mean.
    """

    key: str
    statement: str
    source: str
    primary: Mapping[str, Metric]
    secondary: tuple[Metric, ...] = ()
    kind: str = "superiority"
    margin: float = 0.1

    def metric_for(self, domain: str) -> Metric | None:
        return self.primary.get(domain, self.primary.get("*"))


def _m(path: str, higher: bool, label: str) -> Metric:
    return Metric(path, higher, label)


_VALID_PATH = _m("interpolation.linear.interior_validity", True,
                 "validity inside linear paths")
_STEP_RATIO = _m("interpolation.linear.step_ratio", False, "step ratio of linear paths")
_VALIDITY_ATTACK = _m("robustness.validity.success_rate", False, "PGD validity-attack success")

CLAIMS: tuple[Claim, ...] = (
    Claim("interpolation", "Topology-aware latents give better interpolation",
          "proposal A (objective 3, expected outcome 1), proposal B (question i)",
          {"molecules": _VALID_PATH, "proteins": _VALID_PATH, "social": _VALID_PATH,
           "*": _STEP_RATIO},
          (_STEP_RATIO, _m("interpolation.linear.path_wasserstein_H1", False,
                           "H1 distance to the data along paths"),
           _m("interpolation.linear.endpoint_error", False, "endpoint reconstruction error"),
           _m("interpolation.spherical.interior_validity", True,
              "validity inside spherical paths"))),
    Claim("ood", "Topology-aware latents detect shifted (out-of-distribution) data better",
          "proposal B (question ii: OOD detection AUC from latent-space scores)",
          {"*": _m("ood.auc_mean.mahalanobis", True, "OOD AUC, latent Mahalanobis score")},
          (_m("ood.auc_mean.negative_elbo", True, "OOD AUC, negative ELBO"),)),
    Claim("robustness", "Topology-aware latents resist latent adversarial perturbations",
          "proposal A (expected outcome 3), proposal B (question iii, PGD success rate)",
          {"molecules": _VALIDITY_ATTACK, "proteins": _VALIDITY_ATTACK,
           "social": _VALIDITY_ATTACK,
           "images": _m("robustness.class_change.success_rate", False,
                        "PGD class-change success"),
           "*": _m("robustness.displacement.success_rate", False,
                   "PGD displacement success")},
          (_m("robustness.displacement.success_rate", False, "PGD displacement success"),
           _m("robustness.logp.success_rate", False, "PGD logP-change success"))),
    Claim("topology_fidelity", "Generated samples keep the data's topology better",
          "proposal B (expected outcomes: lower bottleneck / Wasserstein distances)",
          {"*": _m("topology.wasserstein_H1", False, "H1 Wasserstein, data vs samples")},
          (_m("topology.bottleneck_H1", False, "H1 bottleneck, data vs samples"),
           _m("topology.wasserstein_H0", False, "H0 Wasserstein, data vs samples"))),
    Claim("quality", "The topological term does not degrade sample quality",
          "proposal B (expected outcomes: comparable or improved FID)",
          {"molecules": _m("generation.validity", True, "validity without correction"),
           "proteins": _m("generation.validity", True, "validity"),
           "social": _m("generation.degree_mmd", False, "degree MMD"),
           "images": _m("generation.frechet_classifier", False,
                        "classifier Fréchet distance")},
          (_m("generation.fcd", False, "FCD"), _m("generation.uniqueness", True, "uniqueness"),
           _m("generation.clustering_mmd", False, "clustering MMD")),
          kind="non_inferiority"),
)
"""The claims checked, with their primary metric per domain."""

RUNTIME = Metric("info.seconds_per_epoch_median", False, "seconds per epoch (median)")
"""Runtime per epoch, the median over the run's epochs (robust to a first epoch that compiles
kernels): the cost side of the ablations."""


# ---------------------------------------------------------------------- the test
@dataclass(frozen=True)
class Comparison:
    """One metric, one treated arm against its baseline (module docstring: the test).

    Attributes:
        metric: what was compared.
        baseline, treated: the values (runs without a value left out).
        test: ``"paired t"``, ``"Welch t"`` or ``"none"`` (too few values).
        improvement: ``D``, the mean difference signed so that > 0 favours ``treated``.
        standard_error, df: of ``D``.
        p_value: two-sided, of ``D = 0``, before adjustment.
        p_noninferiority: one-sided, of ``D <= -margin`` (non-inferiority claims only).
        p_adjusted, p_noninferiority_adjusted: after Holm's adjustment.
        verdict: one of :data:`VERDICTS`.
        note: why an inconclusive verdict could not be decisive, when it could not.
    """

    metric: Metric
    baseline: tuple[float, ...]
    treated: tuple[float, ...]
    test: str
    improvement: float
    standard_error: float
    df: float
    p_value: float
    p_noninferiority: float | None = None
    p_adjusted: float = math.nan
    p_noninferiority_adjusted: float | None = None
    verdict: str = "inconclusive"
    note: str = ""

    @property
    def baseline_mean(self) -> float:
        return statistics.fmean(self.baseline) if self.baseline else math.nan

    @property
    def treated_mean(self) -> float:
        return statistics.fmean(self.treated) if self.treated else math.nan

    @property
    def baseline_sd(self) -> float:
        return statistics.stdev(self.baseline) if len(self.baseline) > 1 else math.nan

    @property
    def treated_sd(self) -> float:
        return statistics.stdev(self.treated) if len(self.treated) > 1 else math.nan


def _clean(table: Table) -> list[tuple[int, float]]:
    out = []
    for seed, value in table:
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out.append((int(seed), float(value)))
    return out


def _p_two_sided(d: float, se: float, df: float) -> float:
    if se == 0:
        return 0.0 if d != 0 else 1.0
    return float(2.0 * stats.t.sf(abs(d) / se, df))


def _p_greater(d: float, se: float, df: float) -> float:
    """One-sided p of ``H0: D <= 0`` given the estimate ``d``."""
    if se == 0:
        return 0.0 if d > 0 else 1.0
    return float(stats.t.sf(d / se, df))


def compare_arms(baseline: Table, treated: Table, metric: Metric, *,
                 kind: str = "superiority", margin: float = 0.1) -> Comparison:
    """The unadjusted test of one metric between two arms (module docstring).

    Args:
        baseline: ``(seed, value)`` of the baseline runs.
        treated: ``(seed, value)`` of the treated runs.
        metric: the metric and its direction.
        kind: one of :data:`KINDS`.
        margin: non-inferiority margin as a fraction of ``|baseline mean|``.

    Returns:
        A :class:`Comparison` with ``p_adjusted`` equal to ``p_value`` and verdict for a
        single comparison at α = 0.05 (:func:`check_claim` adjusts and judges several).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown claim kind {kind!r}; valid: {', '.join(KINDS)}")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    b, t = _clean(baseline), _clean(treated)
    sign = 1.0 if metric.higher_is_better else -1.0
    b_values, t_values = tuple(v for _, v in b), tuple(v for _, v in t)
    b_seeds, t_seeds = [s for s, _ in b], [s for s, _ in t]
    paired = (len(b) >= 2 and sorted(b_seeds) == sorted(t_seeds)
              and len(set(b_seeds)) == len(b_seeds))
    if paired:
        by_seed = dict(b)
        diffs = [sign * (v - by_seed[s]) for s, v in t]
        n = len(diffs)
        d = statistics.fmean(diffs)
        se = statistics.stdev(diffs) / math.sqrt(n)
        df, test = float(n - 1), "paired t"
    elif len(b) >= 2 and len(t) >= 2:
        vb, vt = statistics.variance(b_values) / len(b), statistics.variance(t_values) / len(t)
        d = sign * (statistics.fmean(t_values) - statistics.fmean(b_values))
        se = math.sqrt(vb + vt)
        df = (vb + vt) ** 2 / (vb**2 / (len(b) - 1) + vt**2 / (len(t) - 1)) if se > 0 \
            else float(len(b) + len(t) - 2)
        test = "Welch t"
    else:
        return Comparison(metric, b_values, t_values, "none", improvement=math.nan,
                          standard_error=math.nan, df=math.nan, p_value=math.nan,
                          note=f"fewer than 2 values per arm ({len(b)} baseline, {len(t)} "
                               "treated)")
    p = _p_two_sided(d, se, df)
    p_ni = None
    if kind == "non_inferiority":
        p_ni = _p_greater(d + margin * abs(statistics.fmean(b_values)), se, df)
    comparison = Comparison(metric, b_values, t_values, test, improvement=d, standard_error=se,
                            df=df, p_value=p, p_noninferiority=p_ni, p_adjusted=p,
                            p_noninferiority_adjusted=p_ni)
    return _judge(comparison, kind, alpha=0.05)


def _judge(c: Comparison, kind: str, *, alpha: float) -> Comparison:
    if c.test == "none":
        return c
    note = ""
    if kind == "non_inferiority" and c.p_noninferiority_adjusted is not None \
            and c.p_noninferiority_adjusted < alpha:
        verdict = "supported"
    elif c.p_adjusted < alpha:
        verdict = "supported" if c.improvement > 0 and kind == "superiority" else (
            "not supported" if c.improvement < 0 else "inconclusive")
    else:
        verdict = "inconclusive"
        note = f"adjusted p = {c.p_adjusted:.3g} >= {alpha}"
    return replace(c, verdict=verdict, note=note)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted)."""
    finite = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(finite)
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


@dataclass(frozen=True)
class ClaimCheck:
    """A claim tested in one group of runs: one comparison per γ > 0 arm.

    Attributes:
        claim: the claim.
        group: the group's label.
        domain: the group's domain.
        metric: the primary metric (None: the claim has none for this domain).
        comparisons: by arm label, in the order given.
        secondary: the secondary metrics' comparisons by arm label (not judged).
    """

    claim: Claim
    group: str
    domain: str
    metric: Metric | None
    comparisons: dict[str, Comparison]
    secondary: dict[str, list[Comparison]] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return overall_verdict([c.verdict for c in self.comparisons.values()])


def check_claim(claim: Claim, domain: str, baseline: Table, arms: Mapping[str, Table], *,
                group: str = "", alpha: float = 0.05,
                secondary: Mapping[str, Mapping[str, tuple[Table, Table]]] | None = None
                ) -> ClaimCheck:
    """Test one claim on the primary metric's tables: each arm against the baseline, Holm-
    adjusted over the arms.

    Args:
        claim: the claim.
        domain: the domain (chooses the primary metric).
        baseline: ``(seed, value)`` of the γ = 0 runs, values of the primary metric.
        arms: the same for each γ > 0 arm, by label.
        group: label of the group of runs.
        alpha: the level.
        secondary: ``{arm: {metric path: (baseline table, arm table)}}`` of the secondary
            metrics, compared without adjustment and shown only.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    metric = claim.metric_for(domain)
    if metric is None:
        return ClaimCheck(claim, group, domain, None, {})
    raw = {label: compare_arms(baseline, table, metric, kind=claim.kind, margin=claim.margin)
           for label, table in arms.items()}
    labels = list(raw)
    p_adj = holm([raw[k].p_value for k in labels])
    ni = [raw[k].p_noninferiority for k in labels]
    ni_adj = holm([math.nan if p is None else p for p in ni]) if claim.kind == \
        "non_inferiority" else [None] * len(labels)
    from dataclasses import replace

    judged = {k: _judge(replace(raw[k], p_adjusted=p_adj[i],
                                p_noninferiority_adjusted=ni_adj[i]), claim.kind, alpha=alpha)
              for i, k in enumerate(labels)}
    shown: dict[str, list[Comparison]] = {}
    by_path = {m.path: m for m in claim.secondary}
    for label, tables in (secondary or {}).items():
        shown[label] = [compare_arms(b, t, by_path[path]) for path, (b, t) in tables.items()
                        if path in by_path]
    return ClaimCheck(claim, group, domain, metric, judged, shown)


def overall_verdict(verdicts: Sequence[str]) -> str:
    """The overall verdict of several comparisons (module docstring)."""
    yes, no = "supported" in verdicts, "not supported" in verdicts
    if yes and not no:
        return "supported"
    if no and not yes:
        return "not supported"
    return "inconclusive"


# ---------------------------------------------------------------------- groups of runs
_RUN_SPECIFIC = {"train": ("seed", "device", "threads", "time_budget_minutes")}


@dataclass
class RunGroup:
    """Runs that differ only in γ and seed, with their γ = 0 baseline runs.

    Attributes:
        label: a readable name.
        domain: the domain.
        arms: runs by γ (``0.0`` the baseline).
    """

    label: str
    domain: str
    arms: dict[float, list[Any]]

    def table(self, gamma: float, path: str) -> list[tuple[int, float | None]]:
        """``(seed, value)`` of ``path`` over the runs at ``gamma``."""
        return [(int(ev.info["seed"]), _number(ev.metric(path))) for ev in self.arms[gamma]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _key(recipe: Mapping[str, Any], *, with_regularizer: bool) -> str:
    out = {k: v for k, v in recipe.items() if k not in ("name", "sample")}
    out["model"] = {k: v for k, v in out["model"].items() if k != "gamma"}
    out["train"] = {k: v for k, v in out["train"].items() if k not in _RUN_SPECIFIC["train"]}
    if not with_regularizer:
        out.pop("regularizer", None)
    return json.dumps(out, sort_keys=True, default=str)


def group_runs(evaluations: Sequence[Any]) -> list[RunGroup]:
    """Group evaluated runs (:class:`~toposci.evaluation.evaluate.RunEvaluation`) as the
    module docstring says; groups come in the order of their first run."""
    variants: dict[str, list[Any]] = {}
    baselines: dict[str, list[Any]] = {}
    for ev in evaluations:
        recipe = ev.info["recipe"]
        if float(ev.info["gamma"]) > 0:
            variants.setdefault(_key(recipe, with_regularizer=True), []).append(ev)
        else:
            baselines.setdefault(_key(recipe, with_regularizer=False), []).append(ev)
    groups: list[RunGroup] = []
    used: set[str] = set()
    for runs in variants.values():
        info = runs[0].info
        family = _key(info["recipe"], with_regularizer=False)
        arms: dict[float, list[Any]] = {}
        for ev in baselines.get(family, []):
            arms.setdefault(0.0, []).append(ev)
        used.add(family)
        for ev in runs:
            arms.setdefault(float(ev.info["gamma"]), []).append(ev)
        reg = info["regularizer"]
        label = (f"{info['name']} ({info['domain']}, {info['model_kind']}, regularizer "
                 f"{reg['mode']}/{reg['vectorization']})")
        groups.append(RunGroup(label, info["domain"], dict(sorted(arms.items()))))
    for family, runs in baselines.items():
        if family not in used:
            info = runs[0].info
            groups.append(RunGroup(f"{info['name']} ({info['domain']}, {info['model_kind']}, "
                                   f"{GAMMA} = 0 only)", info["domain"], {0.0: list(runs)}))
    labels = [g.label for g in groups]
    for i, g in enumerate(groups):
        if labels.count(g.label) > 1:
            g.label = f"{g.label} #{labels[:i + 1].count(g.label)}"
    return groups


def check_claims(groups: Sequence[RunGroup], *, claims: Sequence[Claim] = CLAIMS,
                 alpha: float = 0.05) -> list[ClaimCheck]:
    """Every claim in every group with a γ = 0 baseline and at least one γ > 0 arm."""
    out = []
    for claim in claims:
        for group in groups:
            metric = claim.metric_for(group.domain)
            treated = [g for g in group.arms if g > 0]
            if metric is None or 0.0 not in group.arms or not treated:
                continue
            arms = {f"{GAMMA}={g:g}": group.table(g, metric.path) for g in treated}
            secondary = {f"{GAMMA}={g:g}": {m.path: (group.table(0.0, m.path),
                                                     group.table(g, m.path))
                                             for m in claim.secondary if m != metric}
                         for g in treated}
            check = check_claim(claim, group.domain, group.table(0.0, metric.path), arms,
                                group=group.label, alpha=alpha, secondary=secondary)
            out.append(_explain_missing(check, group))
    return out


def _explain_missing(check: ClaimCheck, group: RunGroup) -> ClaimCheck:
    """Comparisons without a single value say why: the reason the runs skipped the section."""
    section = check.metric.path.split(".", 1)[0] if check.metric else ""
    reasons = sorted({ev.skipped()[section] for runs in group.arms.values() for ev in runs
                      if section in ev.skipped()})
    if not reasons:
        return check
    comparisons = {arm: replace(c, note=f"no values: {section} skipped ({'; '.join(reasons)})")
                   if not c.baseline and not c.treated else c
                   for arm, c in check.comparisons.items()}
    return replace(check, comparisons=comparisons)
