"""Errata that move an image to another category find that category's reference pool by its name alone,
whatever dataset prefix the fix writes (the 22 metal-nut images filed under DS-MVTec/pill)."""
import pytest

from mmad_eval.errata.apply import _new_references
from mmad_eval.questions.model import ImageEntry

POOLS = {"DS-MVTec/metal_nut": ["DS-MVTec/metal_nut/train/good/000.png", "DS-MVTec/metal_nut/train/good/001.png"],
         "DS-MVTec/pill": ["DS-MVTec/pill/train/good/000.png"]}


@pytest.mark.parametrize("category", ["metal_nut", "MVTec-AD/metal_nut"])
def test_a_fix_naming_the_category_without_its_dataset_finds_its_pool(category):
    entry = ImageEntry(key="DS-MVTec/pill/image/good/000.png", questions=[],
                       similar_templates=["DS-MVTec/pill/train/good/000.png"],
                       random_templates=["DS-MVTec/pill/train/good/000.png"])
    similar, random_ = _new_references(entry, {"category": category}, POOLS)
    assert similar == random_ == ["DS-MVTec/metal_nut/train/good/000.png"]
