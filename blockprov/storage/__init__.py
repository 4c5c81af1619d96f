"""Storage v1 engine: load, validate, probe, plan and apply curtin-style configs."""
