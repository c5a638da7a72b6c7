"""Cost-effectiveness from posterior draws: assumptions, pure functions over draws, one result group."""

from ww_bayes.cea.analysis import CostEffectivenessError, analyse, monthly_effects, summary, targeting_table
from ww_bayes.cea.assumptions import Assumptions, Uncertain, load_assumptions, parse_assumptions

__all__ = [
    "Assumptions",
    "CostEffectivenessError",
    "Uncertain",
    "analyse",
    "load_assumptions",
    "monthly_effects",
    "parse_assumptions",
    "summary",
    "targeting_table",
]
