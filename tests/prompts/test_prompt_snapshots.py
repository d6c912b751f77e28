"""Rendered prompts checked into tests/prompts/snapshots/: a template change shows as a diff.

To accept an intended change, delete the snapshot file and rerun (the test writes it and fails once).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from mmad_eval.errors import ConfigError
from mmad_eval.prompt.message import ImagePart, TextPart
from mmad_eval.prompt.render import ImageSlot, PromptTemplate, messages_to_text

SNAPSHOTS = Path(__file__).with_name("snapshots")
QUERY = ImageSlot("q" * 64, "query", "DS-MVTec/bottle/image/broken_large/000.png")
REFS = [ImageSlot("a" * 64, "template", "MVTec-AD/bottle/train/good/000.png"),
        ImageSlot("b" * 64, "template", "MVTec-AD/bottle/train/good/001.png")]
HINT = ImageSlot("h" * 64, "hint", "hint:DS-MVTec/bottle/image/broken_large/000.png")
KNOWLEDGE = (" Broken Large\n Description: A large piece of the bottle rim is missing.\n"
             " Good\n Description: A round, brown glass bottle seen from above with an intact rim.")
QUESTIONS = [
    {"number": 1, "text": "Is there any defect in the object?", "options": {"A": "Yes.", "B": "No."}},
    {"number": 2, "text": "There is a defect in the object. What is the type of the defect?",
     "options": {"A": "Contamination", "B": "Broken large", "C": "Scratch", "D": "Missing cap"}},
    {"number": 3, "text": "There is a defect in the object. Where is the defect?",
     "options": {"A": "Top left of the rim.", "B": "Center.", "C": "Bottom right.", "D": "Nowhere."}},
]
CASES = {
    "mmad_0shot": dict(questions=QUESTIONS[:1]),
    "mmad_1shot": dict(references=REFS[:1], questions=QUESTIONS[1:2]),
    "mmad_2shot": dict(references=REFS, questions=QUESTIONS[:1]),
    "mmad_1shot_knowledge": dict(references=REFS[:1], knowledge=KNOWLEDGE, questions=QUESTIONS[:1]),
    "mmad_1shot_hint": dict(references=REFS[:1], hint_image=HINT, hint_text="The detector marked 1 region.",
                            questions=QUESTIONS[:1]),
    "mmad_1shot_cumulative": dict(references=REFS[:1], questions=QUESTIONS, mode="cumulative"),
    "mmad_1shot_per_image": dict(references=REFS[:1], questions=QUESTIONS, mode="per-image"),
    "mmad_cot_1shot": dict(references=REFS[:1], questions=QUESTIONS[:1], template="mmad_cot"),
    "mmad_confidence_1shot": dict(references=REFS[:1], questions=QUESTIONS[:1], template="mmad_confidence"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_prompt_snapshot(case):
    kwargs = dict(CASES[case])
    template = PromptTemplate(kwargs.pop("template", "mmad"))
    text = messages_to_text(template.render(query=QUERY, **kwargs))
    path = SNAPSHOTS / f"{case}.txt"
    if not path.exists():
        path.write_text(text, encoding="utf-8")
        pytest.fail(f"snapshot {path.name} written; review it and rerun")
    assert text == path.read_text(encoding="utf-8")


def test_parts_are_ordered_images_by_hash():
    msgs = PromptTemplate("mmad").render(query=QUERY, references=REFS, hint_image=HINT, questions=QUESTIONS[:1])
    assert len(msgs) == 1 and msgs[0].role == "user"
    images = msgs[0].images()
    assert [p.role for p in images] == ["template", "template", "query", "hint"]
    assert images[0] == ImagePart(sha256="a" * 64, role="template", label=REFS[0].label)
    assert all(isinstance(p, TextPart) and p.text for p in msgs[0].parts if not isinstance(p, ImagePart))
    text = msgs[0].text
    assert text.index("normal sample") < text.index("query image:") < text.index("suggestions") < text.index("A. Yes.")


def test_role_markers_and_unplaced_images(tmp_path):
    (tmp_path / "sys.j2").write_text("<<role:system>>Be brief.<<role:user>>Look: {{ query }} {{ questions[0].text }}")
    msgs = PromptTemplate("sys", tmp_path).render(query=QUERY, questions=QUESTIONS[:1])
    assert [m.role for m in msgs] == ["system", "user"] and msgs[0].text == "Be brief."
    assert msgs[1].images()[0].role == "query"
    (tmp_path / "bad.j2").write_text("No image here: {{ questions[0].text }}")
    with pytest.raises(ConfigError, match="does not place"):
        PromptTemplate("bad", tmp_path).render(query=QUERY, questions=QUESTIONS[:1])
    with pytest.raises(ConfigError, match="known: bad, sys"):
        PromptTemplate("nope", tmp_path)


def test_template_hash_changes_with_text(tmp_path):
    (tmp_path / "t.j2").write_text("{{ query }} v1")
    h1 = PromptTemplate("t", tmp_path).sha256
    (tmp_path / "t.j2").write_text("{{ query }} v2")
    assert PromptTemplate("t", tmp_path).sha256 != h1


@pytest.mark.parametrize("refs", [REFS[:1], REFS])
def test_with_a_hint_image_the_query_is_not_called_the_last_image(refs):
    """The hint image comes after the query: the template must not tell the model the last image is the query."""
    msgs = PromptTemplate("mmad").render(query=QUERY, references=refs, hint_image=HINT, questions=QUESTIONS[:1])
    assert msgs[0].images()[-1].role == "hint"
    assert "the last image is the query image" not in msgs[0].text
    plain = PromptTemplate("mmad").render(query=QUERY, references=refs, questions=QUESTIONS[:1])
    assert "the last image is the query image" in plain[0].text
