"""Cost-effectiveness from posterior draws: assumptions, pure functions over draws, one result group; the
extra hours worked a societal perspective values as production (:mod:`ww_bayes.cea.production`)."""

from ww_bayes.cea.analysis import CostEffectivenessError, analyse, monthly_effects, summary, targeting_table
from ww_bayes.cea.assumptions import Assumptions, Uncertain, load_assumptions, parse_assumptions
from ww_bayes.cea.production import ProductionHours, production_hours

__all__ = [
    "Assumptions",
    "CostEffectivenessError",
    "ProductionHours",
    "Uncertain",
    "analyse",
    "load_assumptions",
    "monthly_effects",
    "parse_assumptions",
    "production_hours",
    "summary",
    "targeting_table",
]
