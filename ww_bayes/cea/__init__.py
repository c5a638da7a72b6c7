"""Cost-effectiveness from posterior draws: assumptions, pure functions over draws, one result group; the
extra hours worked a societal perspective values as production (:mod:`ww_bayes.cea.production`) and the extra
months in other benefits a government perspective pays (:mod:`ww_bayes.cea.benefits`)."""

from ww_bayes.cea.analysis import CostEffectivenessError, analyse, monthly_effects, summary, targeting_table
from ww_bayes.cea.assumptions import Assumptions, Uncertain, load_assumptions, parse_assumptions
from ww_bayes.cea.benefits import BenefitMonths, benefit_months
from ww_bayes.cea.production import ProductionHours, production_hours

__all__ = [
    "Assumptions",
    "BenefitMonths",
    "CostEffectivenessError",
    "ProductionHours",
    "Uncertain",
    "analyse",
    "benefit_months",
    "load_assumptions",
    "monthly_effects",
    "parse_assumptions",
    "production_hours",
    "summary",
    "targeting_table",
]
