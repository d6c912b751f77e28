"""A small synthetic set (two categories) and its question file, shared by the agent-mode tests."""
import pytest

from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.mmad_io import write_mmad_json
from mmad_eval.sources.detect import load_source
from mmad_eval.sources.synth import generate_synthetic


@pytest.fixture(scope="session")
def synth_questions(tmp_path_factory):
    root = generate_synthetic(tmp_path_factory.mktemp("agent-synth"), categories=["bottle", "pill"], n_train=4,
                              n_test_good=2, n_per_defect=1, size=96, workers=1)
    result = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json",
                                GenerateSettings(similar="none"))
    path = root / "questions.json"
    write_mmad_json(result.questions, path)
    return path
