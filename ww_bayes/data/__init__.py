"""The data stage: the schema and its validation, reading and writing cohorts, the calibrated simulator,
exact cell counts, and the published figures the simulator is calibrated to."""
