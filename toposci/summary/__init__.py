"""Topology summaries of whole data sets: the engine behind ``toposci summarize``, and an
sklearn transformer that turns samples of any domain into vectorized diagrams.

The names below load on first use, so that the worker processes of a summary, which import
:mod:`toposci.summary.worker` only, start without torch where their view needs none.
"""

from importlib import import_module
from typing import Any

__all__ = ["DimensionSummary", "SummaryReport", "TopologyTransformer", "load_diagrams",
           "summarize", "summarize_dimension"]

_HOMES = {"DimensionSummary": "stats", "summarize_dimension": "stats", "SummaryReport": "run",
          "summarize": "run", "load_diagrams": "store", "TopologyTransformer": "transformer"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"toposci.summary.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'toposci.summary' has no attribute {name!r}")
