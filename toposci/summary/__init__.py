"""Topology summaries of whole data sets: the engine behind ``toposci summarize``."""

from toposci.summary.run import SummaryReport, summarize
from toposci.summary.stats import DimensionSummary, summarize_dimension
from toposci.summary.store import load_diagrams

__all__ = ["DimensionSummary", "SummaryReport", "load_diagrams", "summarize",
           "summarize_dimension"]
