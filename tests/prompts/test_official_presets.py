"""Every official-script preset sends exactly what the script sends (text byte for byte, image order, image
size and encoding, decoding parameters), and one changed space is caught.

The expected requests come from tests/prompts/official_scripts.py (written from the scripts' code); the
snapshots in snapshots/official/ add image sizes, encodings and decoding parameters.
To accept an intended change, delete the snapshot file and rerun (the test writes it and fails once).
"""
from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

import official_scripts as ref
from mmad_eval.backends.openai_api import OpenAIBackend
from mmad_eval.cli import build_parser
from mmad_eval.commands.run import backend_options, settings_from_args
from mmad_eval.enhance.pipeline import Enhancements
from mmad_eval.prompt.images import ImageRegistry
from mmad_eval.prompt.message import TextPart
from mmad_eval.prompt.render import PROMPT_DIR, PromptTemplate
from mmad_eval.run.plan import build_requests, load_questions
from mmad_eval.run.protocol_presets import PRESETS
from mmad_eval.run.protocols import show
from mmad_eval.run.slices import Slice, apply_slice

SNAPSHOTS = Path(__file__).with_name("snapshots") / "official"
OFFICIAL = [n for n in PRESETS if n != "mmad-eval"]
API = ("gpt4o", "gpt4o-mini", "gpt4v", "gemini")
CONV_DEFECT = [
    {"Question": "Is there any defect in the object?", "Answer": "A", "Options": {"A": "Yes.", "B": "No."},
     "type": "Anomaly Detection"},
    {"Question": "There is a defect in the object. What is the type of the defect?", "Answer": "B",
     "Options": {"A": "Contamination.", "B": "Broken large.", "C": "Scratch.", "D": "Missing cap."},
     "type": "Defect Classification"},
    {"Question": "There is a defect in the object. Where is the defect?", "Answer": "A",
     "Options": {"A": "Top left.", "B": "Center.", "C": "Bottom right.", "D": "Nowhere."},
     "type": "Defect Localization"}]
CONV_GOOD = [
    {"Question": "Is there any defect in the object?", "Answer": "B", "Options": {"A": "Yes.", "B": "No."},
     "type": "Anomaly Detection"},
    {"Question": "What kind of product is in the image?", "Answer": "C",
     "Options": {"A": "Pill", "B": "Screw", "C": "Candle", "D": "Cable"}, "type": "Object Classification"}]
QUERY_PNG, TEMPLATE_PNG = "DS-MVTec/bottle/image/broken_large/000.png", "MVTec-AD/bottle/train/good/000.png"
QUERY_JPG, TEMPLATE_JPG = "VisA/candle/test/good/001.JPG", "VisA/candle/train/good/000.JPG"


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    img.putpixel((w // 2, h // 2), (255, 0, 0))
    img.save(path, "JPEG" if path.suffix.lower() == ".jpg" else "PNG")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mmad")
    _image(root / QUERY_PNG, (1400, 1000))      # downscaled by every preset
    _image(root / TEMPLATE_PNG, (300, 200))     # upscaled by fit-area (cv2.resize enlarges too)
    _image(root / QUERY_JPG, (640, 480))
    _image(root / TEMPLATE_JPG, (640, 480))
    mmad = {QUERY_PNG: {"conversation": CONV_DEFECT, "random_templates": [TEMPLATE_PNG],
                        "similar_templates": [TEMPLATE_PNG], "mask_path": ""},
            QUERY_JPG: {"conversation": CONV_GOOD, "random_templates": [TEMPLATE_JPG],
                        "similar_templates": [TEMPLATE_JPG], "mask_path": ""}}
    (root / "mmad.json").write_text(json.dumps(mmad, indent=1))
    return root


def settings_for(preset: str, data: Path, *flags: str):
    args = build_parser(only="run").parse_args(["run", "--questions", str(data / "mmad.json"), "--model",
                                                "openai:gpt-4o", "--out", str(data / "out"), "--protocol", preset,
                                                *flags])
    return args, settings_from_args(args)


def requests_for(preset: str, data: Path, prompt_dir: Path | None = None, *flags: str):
    """{query key: [requests]} in the order the engine builds them, the registry, settings and arguments."""
    args, settings = settings_for(preset, data, *flags)
    questions = load_questions(data / "mmad.json")
    registry = ImageRegistry(settings.images)
    enh = Enhancements(settings.enhancements, settings.protocol, data, questions)
    built = build_requests(apply_slice(questions, Slice()), settings.protocol,
                           PromptTemplate(settings.protocol.prompt, prompt_dir), enh, registry, data, {"x": 1})
    by_image: dict[str, list] = {}
    for req in built.requests.values():
        by_image.setdefault(req.meta["questions"][0]["image"], []).append(req)
    return by_image, registry, settings, args


def shape(request) -> list:
    return [(m.role, [("text", p.text) if isinstance(p, TextPart) else ("image", p.role) for p in m.parts])
            for m in request.messages]


EXPECT = {"gpt4o": ref.expect_gpt4o, "gpt4o-mini": ref.expect_gpt4o_mini, "gpt4v": ref.expect_gpt4v,
          "qwen2.5-vl": ref.expect_qwen, "internvl": ref.expect_internvl, "gemini": ref.expect_gemini,
          "minicpm-v": ref.expect_minicpm, "internlm-xcomposer": ref.expect_xcomposer,
          "qwen-vl-chat": ref.expect_qwen_vl_chat, "sphinx": ref.expect_sphinx}
SHUFFLED = {"llava": ref.expect_llava, "cambrian": ref.expect_cambrian, "anomalygpt": ref.expect_anomalygpt}


def expected(preset: str, conv: list[dict], key: str, data: Path, shots: int | None = None, **kw) -> list:
    """The script's requests; ``shots`` defaults to the preset's (the published setting of its script)."""
    shots = PRESETS[preset].protocol.get("shots", 1) if shots is None else shots
    if preset in SHUFFLED:    # the shown (shuffled) options come from our seeded shuffle
        _, settings = settings_for(preset, data)
        qs = load_questions(data / "mmad.json").entries[key].questions
        return SHUFFLED[preset](conv, shots, [show(q, settings.protocol).options for q in qs], **kw)
    return EXPECT[preset](conv, shots, **kw)


@pytest.mark.parametrize("preset", OFFICIAL)
def test_requests_match_the_script_byte_for_byte(preset, data):
    by_image, _, _, _ = requests_for(preset, data)
    for key, conv in ((QUERY_PNG, CONV_DEFECT), (QUERY_JPG, CONV_GOOD)):
        want = expected(preset, conv, key, data)
        got = by_image[key]
        assert [shape(r) for r in got] == [w[0] for w in want]
        assert [[q["index"] for q in r.meta["questions"]] for r in got] == [w[1] for w in want]


@pytest.mark.parametrize("preset", OFFICIAL)
def test_zero_shot_requests_match_the_script(preset, data):
    by_image, _, _, _ = requests_for(preset, data, None, "--shots", "0")
    want = expected(preset, CONV_DEFECT, QUERY_PNG, data, shots=0)
    assert [shape(r) for r in by_image[QUERY_PNG]] == [w[0] for w in want]


KNOWLEDGE = {"MVTec": {"bottle": {"good": " Good\n Description: intact rim.", "broken_large": " Broken\n Description: rim missing."}},
             "VisA": {"candle": {"good": " Good\n Description: a white candle."}}}


@pytest.mark.parametrize("preset", ["qwen2.5-vl", "internvl", "llava", "minicpm-v", "cambrian", "sphinx"])
def test_domain_knowledge_goes_where_the_script_puts_it(preset, data, tmp_path):
    path = tmp_path / "domain_knowledge.json"
    path.write_text(json.dumps(KNOWLEDGE))
    by_image, _, _, _ = requests_for(preset, data, None, "--knowledge", str(path))
    text = "\n".join(KNOWLEDGE["MVTec"]["bottle"].values())    # the scripts join the category's texts
    want = expected(preset, CONV_DEFECT, QUERY_PNG, data, knowledge=text)
    assert [shape(r) for r in by_image[QUERY_PNG]] == [w[0] for w in want]


def test_a_script_without_domain_knowledge_refuses_it(data, tmp_path):
    from mmad_eval.errors import ConfigError

    path = tmp_path / "domain_knowledge.json"
    path.write_text(json.dumps(KNOWLEDGE))
    with pytest.raises(ConfigError, match="no place for knowledge"):
        requests_for("gpt4o", data, None, "--knowledge", str(path))


def _image_facts(url_or_pil) -> dict:
    if isinstance(url_or_pil, str):
        head, b64 = url_or_pil.split(",", 1)
        raw = base64.b64decode(b64)
        img = Image.open(io.BytesIO(raw))
        return {"mime_label": head[len("data:"):-len(";base64")], "encoded_as": img.format.lower(),
                "size": list(img.size)}
    return {"size": list(url_or_pil.size)}


def request_summary(preset: str, data: Path) -> dict:
    """The exact requests of the preset for both images: bodies for API presets, parts and PIL sizes else."""
    by_image, registry, settings, args = requests_for(preset, data)
    out = {"generation": settings.generation.as_dict(), "images": settings.images.as_dict(), "requests": {}}
    if preset in API:
        opts = backend_options(args)
        backend = OpenAIBackend("gpt-4o", settings.generation, registry, base_url="http://127.0.0.1:9/v1",
                                **{k: v for k, v in opts.items() if k == "token_field"})
        for key, reqs in by_image.items():
            bodies = []
            for r in reqs:
                body = backend.payload(r)
                for m in body["messages"]:
                    if isinstance(m["content"], list):
                        for p in m["content"]:
                            if p["type"] == "image_url":
                                p["image_url"]["url"] = _image_facts(p["image_url"]["url"])
                bodies.append(body)
            out["requests"][key] = bodies
    else:
        for key, reqs in by_image.items():
            out["requests"][key] = [[{"role": m.role, "content": [
                {"text": p.text} if isinstance(p, TextPart) else {"image": p.role, **_image_facts(registry.pil(p.sha256))}
                for p in m.parts]} for m in r.messages] for r in reqs]
    return out


@pytest.mark.parametrize("preset", OFFICIAL)
def test_request_snapshot(preset, data):
    got = json.dumps(request_summary(preset, data), indent=1, ensure_ascii=False) + "\n"
    path = SNAPSHOTS / f"{preset}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
        pytest.fail(f"snapshot {path.name} written; review it and rerun")
    assert got == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("preset", OFFICIAL)
def test_one_changed_space_fails(preset, data, tmp_path):
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPT_DIR, prompts)
    path = prompts / "official" / f"{preset}.j2"
    source = path.read_text(encoding="utf-8")
    phrase = "inspector who" if preset != "anomalygpt" else "a object for"   # AnomalyGPT has its own text
    assert source.count(phrase) == 1
    path.write_text(source.replace(phrase, phrase.replace(" ", "  ", 1)), encoding="utf-8")
    by_image, _, _, _ = requests_for(preset, data, prompt_dir=prompts)
    want = expected(preset, CONV_DEFECT, QUERY_PNG, data)
    assert [shape(r) for r in by_image[QUERY_PNG]] != [w[0] for w in want]


def test_api_presets_send_the_scripts_decoding_and_images(data):
    s = request_summary("gpt4o", data)
    body = s["requests"][QUERY_PNG][0]
    assert body["max_tokens"] == 200 and "temperature" not in body and "seed" not in body
    assert "max_completion_tokens" not in body
    template, query = [p["image_url"] for p in body["messages"][0]["content"][:2]]
    # cv2: scale = min(512/w, 512/h), size int(w*scale) x int(h*scale); enlarged too; JPEG bytes, .png label
    assert template == {"url": {"mime_label": "image/png", "encoded_as": "jpeg", "size": [512, 341]}, "detail": "low"}
    assert query["url"] == {"mime_label": "image/png", "encoded_as": "jpeg", "size": [512, 365]}
    jpg = s["requests"][QUERY_JPG][0]["messages"][0]["content"][1]["image_url"]["url"]
    assert jpg == {"mime_label": "image/jpeg", "encoded_as": "jpeg", "size": [512, 384]}
    mini = request_summary("gpt4o-mini", data)["requests"][QUERY_PNG][0]
    assert mini["max_tokens"] == 600 and mini["messages"][0]["content"][1]["image_url"]["url"]["mime_label"] == "image/jpeg"
    gem = request_summary("gemini", data)["requests"][QUERY_PNG][0]
    assert "detail" not in gem["messages"][0]["content"][0]["image_url"]


def test_local_presets_prepare_images_as_the_scripts(data):
    qwen = request_summary("qwen2.5-vl", data)["requests"][QUERY_PNG][0][0]["content"]
    sizes = [p["size"] for p in qwen if "image" in p]
    # qwen_vl_utils: 1400x1000 -> 1400x1008 (multiples of 28); processor max_pixels 1280*28*28 -> 1176x840
    # template 300x200 -> 308x196 (>= min_pixels 64*28*28)
    assert sizes == [[308, 196], [1176, 840]]
    intern = request_summary("internvl", data)["requests"][QUERY_PNG][0][0]["content"]
    assert [p["size"] for p in intern if "image" in p] == [[448, 448], [448, 448]]
    llava = request_summary("llava", data)
    assert [p["size"] for p in llava["requests"][QUERY_PNG][0][0]["content"] if "image" in p] == [[512, 341], [512, 365]]
    assert llava["generation"]["temperature"] == 0.2 and llava["generation"]["max_tokens"] == 64


def test_flags_override_a_preset_and_the_record_says_so(data):
    _, s = settings_for("gpt4o", data, "--max-tokens", "300", "--shots", "1")
    assert s.generation.max_tokens == 300 and s.overrides == ("generation.max_tokens",)
    assert s.as_dict()["preset"] == "gpt4o" and s.as_dict()["overrides"] == ["generation.max_tokens"]
    _, own = settings_for("mmad-eval", data)
    assert "preset" not in own.as_dict()      # our default keeps the record (and resumes) of earlier runs


# -- whole runs against the real local OpenAI-compatible server: asking, re-asking, reading letters --------
def _run(data: Path, out: Path, preset: str, responder, *flags: str) -> list[dict]:
    from mmad_eval.cli import main
    from mmad_eval.testing.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(responder=responder) as srv:
        rc = main(["run", "--questions", str(data / "mmad.json"), "--model", "openai:gpt-4o", "--out", str(out),
                   "--protocol", preset, "--base-url", srv.base_url, "--quiet", *flags])
        bodies = srv.requests
    assert rc in (0, 1)
    assert main(["score", str(out), "--bootstrap", "0", "--export-mmad", str(out / "answers.json")]) == 0
    return bodies, json.loads((out / "answers.json").read_text())


def _text(body: dict) -> str:
    return "".join(p.get("text", "") for m in body["messages"] for p in m["content"] if isinstance(p, dict))


def test_gpt4o_reasks_on_refusal_words_and_keeps_the_last_letter(data, tmp_path):
    from mmad_eval.testing.openai_server import prompt_text

    seen: dict[str, int] = {}

    def responder(body):
        text = prompt_text(body)
        seen[text] = seen.get(text, 0) + 1
        n = text.count("Question: ")
        if "Candle" in text:                       # VisA image, question 2: refuses every time
            return "Sorry, I cannot assist with that."
        if n == 1:                                 # the first question: refused twice, then answered
            return "I'm sorry, please retry." if seen[text] <= 2 else "Answer: A."
        if n == 2:
            return "1. Answer: A.\n2. Answer: B."
        return "1. Answer: A.\n2. Answer: B.\n3. Answer: C. A crack is visible."   # the article counts last

    bodies, answers = _run(data, tmp_path / "o", "gpt4o", responder)
    got = {(a["image"], a["question"]["text"].split(":")[0]): a["gpt_answer"] for a in answers}
    png = [a["gpt_answer"] for a in answers if a["image"] == QUERY_PNG]
    assert png == ["A", "B", "A"]      # \b([A-E])\b finds the article "A" last, as the script does
    jpg = [a["gpt_answer"] for a in answers if a["image"] == QUERY_JPG]
    assert jpg[1] == ""                # 5 refusals: the script records an empty answer (summary.py drops it)
    assert max(seen.values()) == 5 and len(got) == 5
    assert all("temperature" not in b and b["max_tokens"] == 200 for b in bodies)


def test_gemini_aligns_letters_and_drops_an_image_whose_count_differs(data, tmp_path):
    from mmad_eval.testing.openai_server import prompt_text

    def responder(body):
        text = prompt_text(body)
        if text.count("Question: ") == 1 and "Is there any defect" in text:
            return "1. Answer: A."
        if "Candle" in text:                       # one question, two letters: the script drops the image
            return "1. Answer: C (or B)."
        return "1. Answer: B.\n2. Answer: A."

    bodies, answers = _run(data, tmp_path / "g", "gemini", responder)
    assert len(bodies) == 4                        # per image: AD alone, then the rest together
    rest = next(b for b in bodies if _text(b).count("Question: ") == 2)
    assert [q for q in _text(rest).split("\n") if q.startswith("Question")] == [
        "Question: There is a defect in the object. What is the type of the defect? ",
        "Question: There is a defect in the object. Where is the defect? "]
    assert [(a["image"], a["gpt_answer"]) for a in answers] == [(QUERY_PNG, "A"), (QUERY_PNG, "B"), (QUERY_PNG, "A")]


@pytest.mark.parametrize("preset, reply, letter", [
    ("qwen2.5-vl", "The defect looks like a scratch on the rim", "C"),      # no letter: closest option text
    ("qwen2.5-vl", "B. Broken large. A crack runs across the rim.", "A"),   # last standalone letter
    ("llava", "B. Broken large. A crack runs across the rim.", "B"),        # the FIRST letter
    ("llava", "broken large", "B"),
    ("internvl", "Answer: D", "D"),
    ("internvl", "the rim is broken", None),                                # no letter, no fallback
    ("gpt4o-mini", "I would say B, but A is possible.", "A"),
])
def test_script_letter_rules(preset, reply, letter):
    from mmad_eval.parse.stage import ReferenceRule

    rule = ReferenceRule.of(PRESETS[preset].protocol)
    options = {"A": "Contamination.", "B": "Broken large.", "C": "Scratch.", "D": "Missing cap."}
    assert rule.letter(reply, reply, 0, 1, options) == letter
