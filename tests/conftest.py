"""Suite-wide settings: hypothesis runs derandomized (a fixed seed), with a modest number of examples and
no per-example deadline, so property tests give the same verdict on every run, in CI and on a busy machine."""
from hypothesis import HealthCheck, settings

settings.register_profile("mmad-eval", derandomize=True, max_examples=60, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mmad-eval")
