"""The label audit's review page data (label_audit/page.py): which pictures each flag shows (query, mask
overlay, the first reference of each kind, the duplicate), the question the flag names, and the thumbnails
(issue 25)."""
import base64
import io

import numpy as np
import pytest
from PIL import Image

from mmad_eval.errata.model import Errata
from mmad_eval.label_audit.page import THUMB, page_data
from mmad_eval.questions.model import ImageEntry, Question, QuestionSet

Q, DUP = "D/c/test/bad/0.png", "D/c/test/bad/9.png"
RANDOM, SIMILAR = ["D/c/train/good/0.png", "D/c/train/good/1.png"], ["D/c/train/good/2.png", "D/c/train/good/3.png"]


def _save(root, rel, arr):
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(root / rel)


def _decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"), dtype=int)


@pytest.fixture()
def root(tmp_path):
    grey = np.full((40, 60, 3), 128, np.uint8)
    for rel in [Q, DUP, *RANDOM, *SIMILAR]:
        _save(tmp_path, rel, grey)
    mask = np.zeros((40, 60), np.uint8)
    mask[:, 30:] = 255                                   # the right half is the defect
    _save(tmp_path, "D/c/gt/0.png", mask)
    return tmp_path


def _qs(similar=SIMILAR, mask="D/c/gt/0.png"):
    qs = [Question(Q, i, t, f"question {i}?", {"A": "Yes", "B": "No"} if i == 0 else {"A": "top", "B": "left"}, "A")
          for i, t in enumerate(["Anomaly Detection", "Defect Localization"])]
    return QuestionSet({Q: ImageEntry(Q, qs, similar_templates=list(similar), random_templates=list(RANDOM),
                                      mask_path=mask)})


def _errata(**target):
    entry = {"id": "e1", "check": "localization", "status": "open", "message": "m", "target": {"images": [Q], **target},
             "evidence": {"duplicate_of": DUP}, "fix": {"action": "exclude"}}
    return Errata([entry], {"summary": {"flags": 1}})


@pytest.mark.parametrize("similar, refs", [(SIMILAR, [RANDOM[0], SIMILAR[0]]), ([RANDOM[0]], [RANDOM[0]])])
def test_a_flag_shows_query_mask_first_references_and_duplicate(root, similar, refs):
    data = page_data(_errata(question=1), _qs(similar), root)
    (flag,) = data["flags"]
    assert [(kind, key) for kind, key, _ in flag["images"]] == (
        [("query", Q), ("mask", Q)] + [("reference", r) for r in refs] + [("duplicate of", DUP)])
    assert all(tag in data["thumbs"] for _, _, tag in flag["images"])
    assert flag["question"] == {"type": "Defect Localization", "text": "question 1?",
                                "options": {"A": "top", "B": "left"}, "answer": "A"}
    assert flag["more_images"] == 0


def test_the_mask_thumbnail_tints_only_the_defect_red(root):
    data = page_data(_errata(question=0), _qs(), root)
    plain, tinted = _decode(data["thumbs"][Q]), _decode(data["thumbs"][f"{Q}|mask"])
    assert plain.shape[:2] == tinted.shape[:2] == (40, 60) and max(plain.shape) <= THUMB
    assert np.abs(tinted[:, :16] - plain[:, :16]).max() <= 3                       # outside the mask: as is
    right = tinted[:, 35:].reshape(-1, 3).mean(axis=0)
    assert right[0] > 150 and right[1] < 90 and right[2] < 90                     # inside: red
    assert data["flags"][0]["question"]["text"] == "question 0?"


def test_no_mask_no_question_and_more_images(root):
    errata = _errata(images=[Q, DUP, RANDOM[0]])
    data = page_data(errata, _qs(mask=""), root)
    (flag,) = data["flags"]
    assert [kind for kind, _, _ in flag["images"]] == ["query", "reference", "reference", "duplicate of"]
    assert flag["question"] is None and flag["more_images"] == 2
    assert not any(tag.endswith("|mask") for tag in data["thumbs"])
    wrong_size = np.zeros((10, 10), np.uint8)
    wrong_size[:5] = 255
    _save(root, "D/c/gt/0.png", wrong_size)                                         # a mask of another size
    data = page_data(_errata(question=7), _qs(), root)
    assert np.array_equal(_decode(data["thumbs"][f"{Q}|mask"]), _decode(data["thumbs"][Q]))
    assert data["flags"][0]["question"] is None                                     # no question 7


@pytest.mark.parametrize("file_name", ["mmad.json", "q<b>&.json"])
def test_the_page_is_written_where_asked_with_its_data_as_text(root, tmp_path, file_name):
    import html

    from mmad_eval.label_audit.page import write_page

    errata = _errata(question=1)
    errata.entries[0]["message"] = "</script><b>x</b>"
    errata.meta["questions"] = {"file": f"/data/{file_name}"}
    out = tmp_path / "review" / "page.html"
    out.parent.mkdir()
    assert write_page(errata, _qs(), root, out) == out
    text = out.read_text(encoding="utf-8")
    assert f"<title>Label audit: {html.escape(file_name)}</title>" in text
    assert "</script><b>x" not in text and "<\\/script><b>x<\\/b>" in text       # data as text, never markup
    assert sorted(p.name for p in out.parent.iterdir()) == ["page.html"]          # no temporary file left
