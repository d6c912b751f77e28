"""Suite-wide settings: hypothesis runs derandomized (a fixed seed), with a modest number of examples and
no per-example deadline, so property tests give the same verdict on every run, in CI and on a busy machine."""
from hypothesis import HealthCheck, settings

settings.register_profile("mmad-eval", derandomize=True, max_examples=60, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mmad-eval")


import pytest  # noqa: E402

from mmad_eval import redact as _redact  # noqa: E402


@pytest.fixture(autouse=True)
def _own_secrets():
    """Each test starts with the secrets registered before it and leaves none behind: a key one test
    registers (a process registers its own API key) must not redact another test's text (a random short key
    starting with "test" would redact the path segment "test")."""
    with _redact._LOCK:
        before = set(_redact._SECRETS)
    yield
    with _redact._LOCK:
        _redact._SECRETS.clear()
        _redact._SECRETS.update(before)
