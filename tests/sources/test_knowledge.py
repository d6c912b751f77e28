"""MMAD's domain_knowledge.json through load_knowledge and Enhancements.knowledge_text."""
import json

import pytest

from mmad_eval.enhance.pipeline import Enhancements
from mmad_eval.errors import DataError
from mmad_eval.questions.model import ImageEntry, QuestionSet
from mmad_eval.run.settings import EnhancementSettings, ProtocolSettings
from mmad_eval.sources.knowledge import load_knowledge

# The release's shape: {dataset: {category: {"good" and defect names: " <Title>\n Description: ..."}}}
DOMAIN_KNOWLEDGE = {
    "MVTec": {
        "bottle": {"good": " Normal bottle\n Description: a round brown glass rim.",
                   "broken_large": " Broken large\n Description: a large piece of the rim is missing.",
                   "contamination": " Contamination\n Description: foreign matter inside."},
        "pill": {"good": " Normal pill\n Description: a white oval pill with red specks."}},
    "MVTec-LOCO": {"breakfast_box": {"good": " Normal box\n Description: two oranges, a peach, cereals.",
                                     "logical_anomalies": " Logical\n Description: a missing fruit."}},
    "VisA": {"candle": {"good": " Normal candle\n Description: four white candles.",
                        "wax missing": " Wax missing\n Description: a chunk of wax is gone."}},
    "GoodsAD": {"drink_can": {"good": " Normal can\n Description: an upright aluminium can.",
                              "deformation": " Deformation\n Description: a dent in the can."}},
}


@pytest.fixture
def enh(tmp_path):
    path = tmp_path / "domain_knowledge.json"
    path.write_text(json.dumps(DOMAIN_KNOWLEDGE, indent=1))
    return Enhancements(EnhancementSettings(knowledge=str(path)), ProtocolSettings(), tmp_path, QuestionSet({}))


def _text(enh, key):
    return enh.knowledge_text(ImageEntry(key=key, questions=[]))


@pytest.mark.parametrize("key, dataset, category", [
    ("DS-MVTec/bottle/image/broken_large/000.png", "MVTec", "bottle"),
    ("MVTec-AD/bottle/test/good/000.png", "MVTec", "bottle"),          # the revision's keys
    ("MVTec-AD/pill/test/good/003.png", "MVTec", "pill"),
    ("VisA/candle/test/bad/000.JPG", "VisA", "candle"),
    ("MVTec-LOCO/breakfast_box/test/logical_anomalies/000.png", "MVTec-LOCO", "breakfast_box"),
    ("GoodsAD/drink_can/test/good/000.jpg", "GoodsAD", "drink_can")])
def test_every_text_of_the_category_joined_by_newlines_in_file_order(enh, key, dataset, category):
    assert _text(enh, key) == "\n".join(DOMAIN_KNOWLEDGE[dataset][category].values())
    assert enh.describe()["missing_knowledge"] == []


def test_missing_category_is_reported_not_a_crash(enh):
    assert _text(enh, "VisA/pcb1/test/good/000.JPG") is None
    assert _text(enh, "MVTec-LOCO/pushpins/test/good/000.png") is None
    assert _text(enh, "VisA/candle/test/good/000.JPG")
    assert enh.describe()["missing_knowledge"] == ["MVTec-LOCO/pushpins", "VisA/pcb1"]


@pytest.mark.parametrize("data, culprit", [
    ({"MVTec": {"bottle": " Normal bottle\n Description: ..."}}, "MVTec/bottle"),
    ({"MVTec": {"bottle": {"good": ["not", "text"]}}}, "MVTec/bottle"),
    ({"format": "mmad-eval-knowledge/1", "categories": {"bottle": "a bottle"}}, "bottle"),
    ({"format": "mmad-eval-knowledge/1", "categories": ["bottle"]}, "categories")])
def test_malformed_knowledge_is_a_data_error_naming_the_entry(tmp_path, data, culprit):
    path = tmp_path / "k.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=culprit) as err:
        load_knowledge(path)
    assert str(path) in str(err.value)


def test_knowledge_path_that_is_a_folder_or_not_utf8_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not a file") as err:
        load_knowledge(tmp_path)
    assert str(tmp_path) in str(err.value)
    bad = tmp_path / "k.json"
    bad.write_bytes('{"MVTec": {"bottle": {"good": "caf\u00e9"}}}'.encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8"):
        load_knowledge(bad)
