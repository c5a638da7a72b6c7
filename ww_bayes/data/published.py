"""The published results of the experiment (SEO Economisch Onderzoek for SZW/UWV): the one place they live.

The simulator calibrates to these numbers and every table prints them beside the estimates as a sanity
check. Rates are probabilities; effects are percentage points (pp); money in millions of euros.
"""

SOURCE = "SEO Economisch Onderzoek for SZW/UWV, evaluation of the WW service experiment"

N_PERSONS = 179_840
JOB_RATE_M12_ONLINE = 0.63  # job 12 months after inflow, online service only
JOB_RATE_M12_SERVICE = 0.65  # with personal service
SERVICE_JOB_PP_M12 = 2.0  # service vs online-only
SERVICE_WW_PP_M12 = -2.1  # WW receipt at 12 months, service vs online-only
ENFORCEMENT_JOB_PP = 0.0  # enforcement alone: no effect on jobs or hours
WERKVERKENNER_AT_OR_BELOW_50 = 41_202
WERKVERKENNER_ABOVE_50 = 90_689
WERKVERKENNER_NO_SCORE = 47_949
BENEFITS_MEUR = 201.0
EXECUTION_COSTS_MEUR = 97.0
BENEFIT_COST_RATIO = BENEFITS_MEUR / EXECUTION_COSTS_MEUR
#: The minister's letter on hours worked in the first year, per contrast (the effects on mean hours per
#: claimant are set beside it).
HOURS_Y1_STATEMENTS = {
    "enforcement_vs_none": "enforcement alone has no significant effect on the total number of hours "
    "worked in the first year",
    "service_vs_control_enforcement": "personal service: more hours worked in the first year",
}
#: The same statements in Dutch (the report in Dutch quotes them so).
HOURS_Y1_STATEMENTS_NL = {
    "enforcement_vs_none": "handhaving alleen heeft geen significant effect op het totaal aantal gewerkte "
    "uren in het eerste jaar",
    "service_vs_control_enforcement": "persoonlijke dienstverlening: meer gewerkte uren in het eerste jaar",
}
