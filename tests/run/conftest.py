"""Fixtures for the run engine tests (helpers live in run_engine_helpers.py)."""
from run_engine_helpers import CountingBackend, dataset, counting  # noqa: F401  (fixtures)
