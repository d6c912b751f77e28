"""A small synthetic set shared by the grounding tests (helpers in grounding_helpers.py)."""
import pytest

from mmad_eval.cli import main


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("grounding")
    assert main(["synth", str(root / "data"), "--categories", "bottle,carpet", "--train", "6", "--test-good", "2",
                 "--per-defect", "2", "--size", "96"]) == 0
    return root
