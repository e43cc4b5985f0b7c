"""The Markdown report of evaluated runs: tables, PNG figures, metric-vs-γ curves and claims.

:func:`write_report` reads each run's ``evaluation/`` folder (never the models) and writes one
Markdown file with its figures in a folder beside it. Given experiment manifests
(:func:`~toposci.evaluation.experiment.load_manifest`), it labels runs by experiment, arm and
seed and adds a section per experiment (arms, mean ± standard deviation over seeds, runtime per
epoch, the declared ablation comparisons).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from toposci.evaluation import claims as claims_module
from toposci.evaluation import figures
from toposci.evaluation.claims import (
    CLAIMS,
    GAMMA,
    RUNTIME,
    ClaimCheck,
    Comparison,
    Metric,
    RunGroup,
    check_claims,
    compare_arms,
    group_runs,
    holm,
)
from toposci.evaluation.evaluate import RunEvaluation
from toposci.evaluation.options import SECTIONS

__all__ = ["COLUMNS", "write_report"]

ALPHA = "\N{GREEK SMALL LETTER ALPHA}"

COLUMNS: dict[str, list[tuple[str, str]]] = {
    "generation": [
        ("validity", "valid"), ("validity_valence_aware", "valid (valence)"),
        ("uniqueness", "unique"), ("novelty", "novel"), ("internal_diversity", "IntDiv"),
        ("scaffold_similarity", "Scaf"), ("fragment_similarity", "Frag"), ("fcd", "FCD"),
        ("frechet_classifier", "classifier FD"), ("mean_ink_fraction", "ink"),
        ("degree_mmd", "degree MMD"), ("clustering_mmd", "clustering MMD"),
        ("ca_ca_within_tolerance", "CA-CA in tolerance"), ("betti.found", "Betti found"),
        ("betti.known", "Betti known")],
    "topology": [
        ("n", "points"), ("bottleneck_H0", "bottleneck H0"), ("wasserstein_H0", "W1 H0"),
        ("bottleneck_H1", "bottleneck H1"), ("wasserstein_H1", "W1 H1"),
        ("landscape_H1", "landscape L2 H1")],
    "interpolation": [
        ("linear.interior_validity", "valid inside, linear"),
        ("spherical.interior_validity", "valid inside, slerp"),
        ("linear.step_ratio", "step ratio, linear"), ("spherical.step_ratio", "step ratio, slerp"),
        ("linear.length_ratio", "length ratio, linear"),
        ("linear.endpoint_error", "endpoint error"),
        ("linear.path_wasserstein_H1", "W1 H1 along linear paths")],
    "ood": [("auc_mean.mahalanobis", "AUC Mahalanobis (mean)"),
            ("auc_mean.negative_elbo", "AUC -ELBO (mean)")],
    "robustness": [
        ("displacement.success_rate", "displacement"), ("validity.success_rate", "validity"),
        ("logp.success_rate", "logP change"), ("class_change.success_rate", "class change")],
}
"""The columns of each section's table, ``(metric path within the section, header)``; a column
is shown when some run has it (every number is in the runs' ``metrics.json``)."""

_TITLES = {"generation": "Generation", "topology": "Topology fidelity (data vs samples)",
           "interpolation": "Interpolation", "ood": "OOD detection (ROC AUC)",
           "robustness": "Robustness: latent PGD success rate (lower is more robust)"}


# ---------------------------------------------------------------------- formatting
def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value).replace("|", "\\|")


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3g} (n=1)"
    return f"{statistics.fmean(values):.3g} ± {statistics.stdev(values):.2g} (n={len(values)})"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c.replace("|", "\\|")
                                for c in row) + " |" for row in rows]
    return [*lines, ""]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text).strip("_")


def _get(node: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _numbers(evs: Sequence[RunEvaluation], path: str) -> list[float]:
    out = []
    for ev in evs:
        v = ev.metric(path)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


# ---------------------------------------------------------------------- labels
def _labels(evaluations: Sequence[RunEvaluation],
            experiments: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """A short unique label per run directory."""
    labels: dict[str, str] = {}
    for exp in experiments:
        for arm, entry in exp["arms"].items():
            for seed, run in entry["runs"].items():
                labels.setdefault(str(Path(run).resolve()), f"{exp['name']}/{arm}/seed{seed}")
    out, seen = {}, set()
    for ev in evaluations:
        key = str(ev.run_dir.resolve())
        label = labels.get(key, ev.run_dir.name)
        if label in seen:
            label = f"{ev.run_dir.parent.name}/{ev.run_dir.name}"
        seen.add(label)
        out[key] = label
    return out


# ---------------------------------------------------------------------- sections
def _runs_table(evaluations: Sequence[RunEvaluation], labels: Mapping[str, str]) -> list[str]:
    rows = []
    for ev in evaluations:
        i = ev.info
        reg = i["regularizer"]
        rows.append([labels[str(ev.run_dir.resolve())], i["domain"], i["model_kind"],
                     i["gamma"], i["beta"],
                     f"{reg['mode']}/{reg['vectorization']}" if i["gamma"] > 0 else "—",
                     i["seed"], f"{i['epochs']}/{i['epochs_planned']}",
                     i["seconds_per_epoch_median"],
                     f"`{ev.run_dir}`"])
    return _table(["run", "domain", "model", GAMMA, "β", "regularizer", "seed", "epochs",
                   "s/epoch (median)", "directory"], rows)


def _section_tables(evaluations: Sequence[RunEvaluation],
                    labels: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    for section in SECTIONS:
        lines += [f"### {_TITLES[section]}", ""]
        shown = False
        for domain in sorted({ev.info["domain"] for ev in evaluations}):
            runs = [ev for ev in evaluations if ev.info["domain"] == domain
                    and ev.sections.get(section, {}).get("status") == "done"]
            columns = list(COLUMNS[section])
            if section == "ood":
                sets = sorted({s for ev in runs for s in _get(
                    ev.sections[section]["metrics"], "sets") or {}})
                columns += [(f"sets.{s}.auc_{k}", f"AUC {k.replace('_', ' ')}, {s}")
                            for s in sets for k in ("mahalanobis", "negative_elbo")]
            columns = [(p, h) for p, h in columns
                       if any(_get(ev.sections[section]["metrics"], p) is not None
                              for ev in runs)]
            if not runs or not columns:
                continue
            shown = True
            rows = [[labels[str(ev.run_dir.resolve())], ev.info["gamma"],
                     *(_get(ev.sections[section]["metrics"], p) for p, _ in columns)]
                    for ev in runs]
            lines += [f"**{domain}**", ""]
            lines += _table(["run", GAMMA, *(h for _, h in columns)], rows)
        if not shown:
            lines += ["No run has this section.", ""]
    return lines


def _skipped(evaluations: Sequence[RunEvaluation], labels: Mapping[str, str]) -> list[str]:
    rows = [[labels[str(ev.run_dir.resolve())], name, reason]
            for ev in evaluations for name, reason in ev.skipped().items()]
    extra = [[labels[str(ev.run_dir.resolve())], "generation: FCD", reason]
             for ev in evaluations
             if (reason := ev.metric("generation.fcd_skipped")) is not None]
    if not rows and not extra:
        return ["Nothing was skipped.", ""]
    return _table(["run", "section", "reason"], rows + extra)


def _run_figures(ev: RunEvaluation, label: str, fig_dir: Path, rel: Path) -> list[str]:
    title = f"{label} ({ev.info['domain']}, {GAMMA}={ev.info['gamma']:g})"
    stem = _slug(label)
    topo, interp, ood = (ev.arrays(s) for s in ("topology", "interpolation", "ood"))
    made = [
        ("diagrams", figures.plot_diagrams(topo, fig_dir / f"{stem}_diagrams.png",
                                           title=title)),
        ("landscapes", figures.plot_landscapes(topo, fig_dir / f"{stem}_landscapes.png",
                                               title=title)),
        ("interpolation", figures.plot_interpolation(
            ev.info["domain"], ev.metric("interpolation.linear") or {}, interp,
            fig_dir / f"{stem}_interpolation.png", title=title)),
        ("topology along paths", figures.plot_path_topology(
            interp, fig_dir / f"{stem}_path_topology.png", title=title)),
        ("OOD scores", figures.plot_ood(ev.metric("ood") or {}, ood,
                                        fig_dir / f"{stem}_ood.png", title=title)),
    ]
    lines = [f"#### {label}", ""]
    lines += [f"![{name}]({(rel / p.name).as_posix()})" for name, p in made if p is not None]
    return [*lines, ""]


def _curves(group: RunGroup, fig_dir: Path, rel: Path, stem: str) -> list[str]:
    if len(group.arms) < 2:
        return []
    metrics = [c.metric_for(group.domain) for c in CLAIMS] + [RUNTIME]
    curves = {m.label + (" ↑" if m.higher_is_better else " ↓"): {
        "mean ± sd over seeds": {g: _numbers(runs, m.path) for g, runs in group.arms.items()
                                 if _numbers(runs, m.path)}}
        for m in metrics if m is not None}
    path = figures.plot_metric_curves(curves, fig_dir / f"{stem}_gamma.png",
                                      title=f"{group.label}: metrics against {GAMMA}")
    return [f"![metrics against {GAMMA}]({(rel / path.name).as_posix()})", ""] if path else []


def _untested(claim: claims_module.Claim, groups: Sequence[RunGroup]) -> str:
    """Why a claim has no comparison."""
    testable = [g for g in groups if 0.0 in g.arms and any(k > 0 for k in g.arms)]
    if not testable:
        return (f"inconclusive (no group of runs has a {GAMMA} = 0 baseline and a {GAMMA} > 0 "
                "arm)")
    domains = sorted({g.domain for g in testable})
    return f"inconclusive (not tested: no primary metric for {', '.join(domains)})"


_QUALITY = "quality"


def _quality_lost(checks: Sequence[ClaimCheck]) -> set[tuple[str, str]]:
    """``(group, arm)`` of the arms whose quality comparison is *not supported*."""
    return {(c.group, arm) for c in checks if c.claim.key == _QUALITY
            for arm, v in c.comparisons.items() if v.verdict == "not supported"}


def _counts(verdicts: Sequence[str]) -> str:
    return ", ".join(f"{verdicts.count(v)} {v}" for v in claims_module.VERDICTS
                     if verdicts.count(v))


def _claims(checks: Sequence[ClaimCheck], groups: Sequence[RunGroup],
            alpha: float) -> list[str]:
    lines = ["### How the claims are tested", ""]
    doc = claims_module.__doc__ or ""
    body = doc.split("**Groups.**", 1)[1] if "**Groups.**" in doc else doc
    lines += ["**Groups.**" + body.replace(f"{ALPHA} = 0.05 by default", f"{ALPHA} = {alpha}"), ""]
    lines += ["### Verdicts", ""]
    lost = _quality_lost(checks)
    rows = []
    for claim in CLAIMS:
        mine = [c for c in checks if c.claim.key == claim.key]
        verdicts = [v.verdict for c in mine for v in c.comparisons.values()]
        kept = [v.verdict for c in mine for arm, v in c.comparisons.items()
                if (c.group, arm) not in lost or claim.key == _QUALITY]
        rows.append([claim.statement, claim.kind.replace("_", "-"),
                     f"**{claims_module.overall_verdict(verdicts)}**" if mine else
                     _untested(claim, groups),
                     _counts(verdicts) or "—",
                     claims_module.overall_verdict(kept) if mine and lost else "—"])
    lines += _table(["claim", "kind", "overall verdict", "comparisons",
                     "overall without arms that lose sample quality"], rows)
    if lost:
        lines += ["Arms whose sample quality is significantly worse than their baseline (the "
                  "quality claim *not supported*): "
                  + "; ".join(f"{group} {arm}" for group, arm in sorted(lost))
                  + ". A model that has lost its samples can win other comparisons for that "
                  "reason alone (a collapsed latent space separates shifted data, few valid "
                  "samples have few H1 features), so the last column repeats each verdict "
                  "without them; the quality claim itself keeps them.", ""]
    lines += ["### The numbers", ""]
    detail = []
    for check in checks:
        for arm, c in check.comparisons.items():
            detail.append([check.claim.key, check.group, arm, c.metric.label
                           + (" ↑" if c.metric.higher_is_better else " ↓"),
                           _mean_sd(list(c.baseline)), _mean_sd(list(c.treated)),
                           c.improvement, c.test, c.df, c.p_value, c.p_adjusted,
                           c.p_noninferiority_adjusted, f"**{c.verdict}**", c.note])
    if detail:
        lines += _table(["claim", "group", "arm", "primary metric", f"{GAMMA} = 0", "arm",
                         "D (> 0 favours the arm)", "test", "df", "p", "p (Holm)",
                         "p non-inferiority (Holm)", "verdict", "note"], detail)
    else:
        lines += [f"No group of runs has both a {GAMMA} = 0 baseline and a {GAMMA} > 0 arm "
                  f"(runs that differ only in {GAMMA} and seed), so no claim could be tested.",
                  ""]
    secondary = []
    for check in checks:
        for arm, comps in check.secondary.items():
            secondary += [[check.claim.key, check.group, arm, c.metric.label
                           + (" ↑" if c.metric.higher_is_better else " ↓"),
                           _mean_sd(list(c.baseline)), _mean_sd(list(c.treated)),
                           c.improvement, c.p_value] for c in comps if c.test != "none"]
    if secondary:
        lines += ["Secondary metrics (shown, not tested; unadjusted p):", ""]
        lines += _table(["claim", "group", "arm", "metric", f"{GAMMA} = 0", "arm", "D", "p"],
                        secondary)
    return lines


def _experiment(exp: Mapping[str, Any], by_dir: Mapping[str, RunEvaluation],
                fig_dir: Path, rel: Path, alpha: float) -> list[str]:
    lines = [f"### {exp['name']}", ""]
    if exp.get("description"):
        lines += [exp["description"].strip(), ""]
    lines += [f"Base recipe `{exp['recipe']}`, common overrides "
              f"`{' '.join(exp.get('overrides', [])) or 'none'}`, seeds {exp['seeds']}.", ""]
    arm_runs: dict[str, list[RunEvaluation]] = {}
    missing = []
    for arm, entry in exp["arms"].items():
        arm_runs[arm] = []
        for seed, run in entry["runs"].items():
            ev = by_dir.get(str(Path(run).resolve()))
            if ev is None:
                missing.append(f"{arm}/seed{seed}")
            else:
                arm_runs[arm].append(ev)
    if missing:
        lines += [f"Not evaluated (left out): {', '.join(missing)}.", ""]
    domain = next((ev.info["domain"] for runs in arm_runs.values() for ev in runs), None)
    if domain is None:
        return [*lines, "No run of this experiment is evaluated yet.", ""]
    metrics: list[Metric] = [m for c in CLAIMS if (m := c.metric_for(domain)) is not None]
    metrics.append(RUNTIME)
    rows = [[arm, " ".join(exp["arms"][arm]["overrides"]),
             *(_mean_sd(_numbers(runs, m.path)) for m in metrics)]
            for arm, runs in arm_runs.items()]
    lines += _table(["arm", "overrides", *(m.label + (" ↑" if m.higher_is_better else " ↓")
                                            for m in metrics)], rows)
    for comp in exp.get("comparisons", []):
        a, b = arm_runs.get(comp["a"], []), arm_runs.get(comp["b"], [])
        results: list[Comparison] = [
            compare_arms([(int(ev.info["seed"]), _value(ev, m.path)) for ev in b],
                         [(int(ev.info["seed"]), _value(ev, m.path)) for ev in a], m)
            for m in metrics]
        adjusted = holm([c.p_value for c in results])
        lines += [f"**{comp['label']}** ({comp['a']} against {comp['b']}; Holm over the "
                  f"metrics, {ALPHA} = {alpha}):", ""]
        rows = []
        for c, p in zip(results, adjusted):
            word = "no significant difference" if c.test != "none" else c.note
            if c.test != "none" and p < alpha and c.improvement != 0:
                word = f"{comp['a']} better" if c.improvement > 0 else f"{comp['b']} better"
            rows.append([c.metric.label + (" ↑" if c.metric.higher_is_better else " ↓"),
                         _mean_sd(list(c.treated)), _mean_sd(list(c.baseline)), c.improvement,
                         c.test, p, word])
        lines += _table(["metric", comp["a"], comp["b"], "D (> 0 favours the first)", "test",
                         "p (Holm)", "reading"], rows)
    runs = [ev for r in arm_runs.values() for ev in r]
    for group in group_runs(runs):
        lines += _curves(group, fig_dir, rel, _slug(f"{exp['name']}_{group.label}"))
    return lines


def _value(ev: RunEvaluation, path: str) -> float | None:
    v = ev.metric(path)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def write_report(evaluations: Sequence[RunEvaluation], out: str | Path, *,
                 experiments: Sequence[Mapping[str, Any]] = (),
                 title: str = "toposci evaluation report", preamble: str = "",
                 figures_dir: str | Path | None = None, alpha: float = 0.05,
                 figure_runs: Sequence[RunEvaluation] | None = None) -> Path:
    """Write the Markdown report of evaluated runs and its figures.

    Args:
        evaluations: the runs (:func:`~toposci.evaluation.evaluate.load_evaluation`).
        out: the Markdown file.
        experiments: experiment manifests (labels, per-experiment sections, ablations).
        title: the first heading.
        preamble: Markdown placed under the title (e.g. "generated by ...").
        figures_dir: folder of the PNG files (default: ``figures`` beside ``out``).
        alpha: the level of the claim tests.
        figure_runs: the runs whose diagrams, landscapes, interpolation and OOD figures are
            drawn (default: all; empty: none).

    Returns:
        ``out``.

    Raises:
        ValueError: no evaluations.
    """
    if not evaluations:
        raise ValueError("no evaluated runs to report")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig_dir = Path(figures_dir) if figures_dir is not None else out.parent / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    rel = Path(fig_dir.resolve().relative_to(out.parent.resolve())) \
        if fig_dir.resolve().is_relative_to(out.parent.resolve()) else fig_dir.resolve()
    labels = _labels(evaluations, experiments)
    by_dir = {str(ev.run_dir.resolve()): ev for ev in evaluations}
    groups = group_runs(evaluations)
    checks = check_claims(groups, alpha=alpha)
    lines = [f"# {title}", ""]
    if preamble:
        lines += [preamble.strip(), ""]
    lines += [f"{len(evaluations)} runs, report written {time.strftime('%Y-%m-%d %H:%M')}. "
              "Every number below is in the runs' `evaluation/metrics.json`; ↑ / ↓ mark the "
              "better direction.", ""]
    lines += ["## Claims", "", *_claims(checks, groups, alpha)]
    if experiments:
        lines += ["## Experiments", ""]
        for exp in experiments:
            lines += _experiment(exp, by_dir, fig_dir, rel, alpha)
    else:
        lines += [f"## Metrics against {GAMMA}", ""]
        curves = [(g, _curves(g, fig_dir, rel, _slug(g.label))) for g in groups]
        for group, curve in curves:
            if curve:
                lines += [f"**{group.label}**", "", *curve]
        if not any(curve for _, curve in curves):
            lines += [f"No group of runs has more than one value of {GAMMA}.", ""]
    lines += ["## Runs", "", *_runs_table(evaluations, labels)]
    lines += ["## Metrics by section", "", *_section_tables(evaluations, labels)]
    lines += ["## Skipped metrics", "", *_skipped(evaluations, labels)]
    drawn = evaluations if figure_runs is None else figure_runs
    if drawn:
        lines += ["## Figures of each run" if figure_runs is None else
                  "## Figures of some runs", ""]
        for ev in drawn:
            lines += _run_figures(ev, labels[str(ev.run_dir.resolve())], fig_dir, rel)
    out.write_text("\n".join(lines).rstrip() + "\n")
    return out
