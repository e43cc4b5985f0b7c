"""Evaluation of trained runs and the experiment report: do the proposals' claims hold?

* :mod:`toposci.evaluation.evaluate` — every metric that applies to a run, section by section,
  into ``RUN_DIR/evaluation/`` (resumable); ``toposci evaluate``.
* :mod:`toposci.evaluation.report` — the Markdown report with its PNG figures.
* :mod:`toposci.evaluation.claims` — the claims, the tests over seeds and their verdicts.
* :mod:`toposci.evaluation.experiment` — experiment files (base recipe, arms, seeds), trained
  and evaluated with ``toposci experiment``.
"""

from toposci.evaluation.claims import (
    CLAIMS,
    Claim,
    ClaimCheck,
    Comparison,
    Metric,
    RunGroup,
    check_claim,
    check_claims,
    compare_arms,
    group_runs,
    holm,
)
from toposci.evaluation.evaluate import RunEvaluation, evaluate_run, evaluate_runs, load_evaluation
from toposci.evaluation.experiment import load_experiment, load_manifest, run_experiment
from toposci.evaluation.options import SECTIONS, EvaluationOptions
from toposci.evaluation.report import write_report
from toposci.evaluation.sections import Displacement, Evaluator, SectionSkipped

__all__ = [
    "CLAIMS",
    "SECTIONS",
    "Claim",
    "ClaimCheck",
    "Comparison",
    "Displacement",
    "EvaluationOptions",
    "Evaluator",
    "Metric",
    "RunEvaluation",
    "RunGroup",
    "SectionSkipped",
    "check_claim",
    "check_claims",
    "compare_arms",
    "evaluate_run",
    "evaluate_runs",
    "group_runs",
    "holm",
    "load_evaluation",
    "load_experiment",
    "load_manifest",
    "run_experiment",
    "write_report",
]
