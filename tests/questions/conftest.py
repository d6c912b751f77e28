"""Fixtures for the question-generator tests (helpers live in qgen_fixtures.py, a uniquely named module)."""
import pytest

from qgen_fixtures import build_source, knowledge


@pytest.fixture(scope="session")
def knowledge_obj():
    return knowledge()


@pytest.fixture(scope="session")
def small_source(tmp_path_factory):
    return build_source(tmp_path_factory.mktemp("src"))
