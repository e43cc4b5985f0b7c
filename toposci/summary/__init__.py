"""Topology summaries of whole data sets: the engine behind ``toposci summarize``, and an
sklearn transformer that turns samples of any domain into vectorized diagrams."""

from toposci.summary.run import SummaryReport, summarize
from toposci.summary.stats import DimensionSummary, summarize_dimension
from toposci.summary.store import load_diagrams
from toposci.summary.transformer import TopologyTransformer

__all__ = ["DimensionSummary", "SummaryReport", "TopologyTransformer", "load_diagrams",
           "summarize", "summarize_dimension"]
