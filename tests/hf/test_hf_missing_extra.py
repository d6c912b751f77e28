import sys

import pytest

from mmad_eval.errors import MissingExtraError
from mmad_eval.questions.hf_datasets import export_hf, import_hf
from mmad_eval.questions.model import QuestionSet


def test_without_datasets_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)     # import datasets -> ImportError
    with pytest.raises(MissingExtraError, match=r"mmad-eval\[datasets\]"):
        export_hf(QuestionSet(entries={}), tmp_path, tmp_path / "out")
    with pytest.raises(MissingExtraError, match="datasets"):
        import_hf(tmp_path)
