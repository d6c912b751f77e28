"""LLM captions through a scripted backend: faithful captions are kept, wrong ones rejected with a reason."""
import asyncio
import hashlib
import json

from qgen_fixtures import knowledge
from mmad_eval.backends.base import Backend, GenerationSettings, Response
from mmad_eval.cli import main
from mmad_eval.prompt.images import ImageRegistry
from mmad_eval.prompt.message import ImagePart
from mmad_eval.questions import llm_caption
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.llm_assist import rephrase
from mmad_eval.questions.llm_caption import caption, facts_for, validate_caption
from mmad_eval.questions.mmad_io import load_mmad_json, write_mmad_json


class Scripted(Backend):
    kind = "scripted"

    def __init__(self, script):
        super().__init__("scripted", GenerationSettings(), ImageRegistry())
        self.script, self.seen = script, {}

    async def generate(self, items, emit):
        for key, request in items:
            self.seen[key] = request
            emit(self.script(key, request))


def cap(text):
    return "```json\n" + json.dumps({"caption": text}) + "\n```"


GOOD = {"tl_blob": "Dark round dirt sits in the top left corner of the glass bottle.",
        "br_line": "A thin bright scratch runs along the lower right of the bottle.",
        "center_big": "A large dark crack in the middle of the ceramic cup.",
        "two_blobs": "Two dark oil stains, one upper left and one lower right.",
        "straddle": "A small dark crack near the left edge of the tile, upper half."}


def _set(small_source):
    return generate_questions(small_source, knowledge(), GenerateSettings(similar="none")).questions


def _facts(small_source, name):
    qs = _set(small_source)
    entry = next(e for k, e in qs.entries.items() if name in k)
    sample = next(s for s in small_source.samples if s.image == entry.key)
    return facts_for(entry, sample, knowledge())


def test_facts_from_the_rules(small_source):
    f = _facts(small_source, "tl_blob")
    assert f.defect == "contamination" and "dirt" in f.names and f.product == "glass bottle"
    assert f.location == "top left of the image" and f.touched == [0]
    assert (f.size, f.shape, f.tone) == ("medium-sized", "round", "darker")
    assert ["scratch"] in f.others


def test_validate_accepts_faithful_captions(small_source):
    for name, text in GOOD.items():
        got, reason = validate_caption(_facts(small_source, name), cap(text))
        assert reason == "ok" and got == text, (name, reason)


def test_validate_rejections(small_source):
    f = _facts(small_source, "tl_blob")
    cases = {
        "A dark scratch in the top left corner of the bottle.": "does not name the defect type",
        "Dirt and a scratch in the top left corner of the bottle.": "names another defect type: scratch",
        "Dark dirt in the bottom right corner of the bottle.": "location contradicts the annotation: 'right'",
        "Dark dirt right in the center of the bottle.": "location contradicts",
        " ".join(["dirt"] * 61): "too long",
        "": "no caption text",
    }
    for text, expected in cases.items():
        got, reason = validate_caption(f, cap(text))
        assert got is None and expected in reason, (expected, reason)
    got, reason = validate_caption(f, "The bottle shows dirt at the top left.")
    assert got is None and reason.startswith("unparseable reply")
    # a part name of the category ("bottom" of a bottle) is not read as an image region
    assert validate_caption(f, cap("Dirt on the bottom of the bottle, top left of the image."))[1] == "ok"


def test_caption_end_to_end(small_source, tmp_path):
    qs = _set(small_source)
    defective = {s.image for s in small_source.samples if s.is_anomalous}

    def script(key, request):
        name = key.rsplit("/", 1)[1][:-4]
        if name == "br_line":
            return Response(key=key, text=cap("A contamination along the bottom right of the bottle."))
        if name == "two_blobs":
            return Response(key=key, error_type="server_error", error_message="boom")
        return Response(key=key, text=cap(GOOD[name]))

    backend = Scripted(script)
    log = []
    stats = asyncio.run(caption(qs, small_source, knowledge(), backend, log=log))
    assert set(backend.seen) == defective                       # normal images are never sent
    assert stats["accepted"] == len(defective) - 2 and stats["rejected"] == 2
    assert {r["reason"].split(":")[0] for r in log if not r["accepted"]} == {"does not name the defect type (scratch)",
                                                                                "backend error"}
    for key, entry in qs.entries.items():
        name = key.rsplit("/", 1)[1][:-4]
        assert entry.extra.get("caption") == (GOOD[name] if key in defective and name not in
                                              ("br_line", "two_blobs") else None)
    # the request carries the query image (and the first normal template before it) as image parts
    key = next(k for k in defective if "tl_blob" in k)
    parts = [p for m in backend.seen[key].messages for p in m.parts if isinstance(p, ImagePart)]
    assert [p.role for p in parts] == ["template", "query"] and parts[1].label == key
    assert parts[1].sha256 == hashlib.sha256((small_source.root / key).read_bytes()).hexdigest()
    assert backend.images.source_bytes(parts[1].sha256) == (small_source.root / key).read_bytes()
    text = backend.seen[key].messages[-1].text
    assert "top left of the image" in text and "contamination" in text and "Reply with JSON only" in text
    # the caption is written as an extra per-image key of MMAD's file and read back
    out = tmp_path / "q.json"
    write_mmad_json(qs, out)
    data = json.loads(out.read_text())
    assert data[key]["caption"] == GOOD["tl_blob"] and "caption" not in data[next(iter(k for k in data
                                                                                       if "good" in k))]
    assert load_mmad_json(out).entries[key].extra["caption"] == GOOD["tl_blob"]
    # and given to the rephrase prompt as context
    seen = {}

    def echo(k, request):
        seen[k] = request.messages[-1].text
        return Response(key=k, text="no")

    asyncio.run(rephrase(qs, Scripted(echo)))
    assert any(GOOD["tl_blob"] in t for k, t in seen.items() if k.startswith(key))
    assert not any("context only" in t for k, t in seen.items() if "two_blobs" in k)


def test_cli_caption_flag(small_source, tmp_path, monkeypatch):
    made = []

    def fake_build_backend(model, **kwargs):
        made.append((model, kwargs["generation_defaults"]))
        return None, Scripted(lambda key, request: Response(key=key, text=cap(GOOD[key.rsplit("/", 1)[1][:-4]])))

    monkeypatch.setattr("mmad_eval.backends.registry.build_backend", fake_build_backend)
    src = tmp_path / "src"
    out = tmp_path / "q.json"
    # the fixture source and its knowledge are in memory: the CLI's loaders hand them over
    monkeypatch.setattr("mmad_eval.sources.detect.load_source", lambda *a, **k: small_source)
    monkeypatch.setattr("mmad_eval.questions.generate.build.resolve_knowledge", lambda *a, **k: knowledge())
    assert main(["generate", str(src), "--out", str(out), "--similar", "none", "--caption", "some-model"]) == 0
    data = json.loads(out.read_text())
    assert made == [("some-model", {"max_tokens": 256})]
    assert sum("caption" in e for e in data.values()) == len(GOOD)
    log = [json.loads(line) for line in out.with_suffix(".caption.jsonl").read_text().splitlines()]
    assert len(log) == len(GOOD) and all(r["accepted"] for r in log)


def test_rephrase_may_not_put_the_answer_in_the_question(small_source):
    from mmad_eval.questions.llm_assist import validate

    qs = _set(small_source)
    entry = next(e for k, e in qs.entries.items() if "tl_blob" in k)
    q = next(q for q in entry.questions if q.type == "Defect Classification")
    leak = {"question": "There is a defect in the object, some dirt. Which defect type is it?",
            "options": dict(q.options), "answer": q.answer}
    new, reason = validate(q, json.dumps(leak))
    assert new is None and "gives away the answer" in reason
    leak["question"] = "There is a defect in the object. Which type of defect is shown?"
    assert validate(q, json.dumps(leak))[1] == "ok"
