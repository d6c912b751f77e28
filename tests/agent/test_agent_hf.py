"""Agent mode in-process on transformers, with the tiny random-weight LLaVA: the tools reach the prompt through
the chat template, later turns render the calls and results back, and a whole run goes through the real model
whose generation a logits processor scripts (the template, tokenisation, decoding and reading are all real)."""
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from mmad_eval.backends.base import GenerationSettings, RunContext  # noqa: E402
from mmad_eval.backends.convert import to_hf  # noqa: E402
from mmad_eval.backends.hf_local import HFBackend  # noqa: E402
from mmad_eval.cli import main  # noqa: E402
from mmad_eval.errors import ConfigError  # noqa: E402
from mmad_eval.parse.stage import load_parsed_run  # noqa: E402
from mmad_eval.prompt.message import ImagePart, Message, TextPart, ToolCall  # noqa: E402
from mmad_eval.run.store import Store  # noqa: E402
from mmad_eval.testing.tiny_vlm import TOOLS_CHAT_TEMPLATE, build_tiny_llava  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backends"))
from backend_helpers import make_registry, make_request  # noqa: E402

ZOOM_ARGS = {"x1": 0, "y1": 0, "x2": 48, "y2": 48}


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("imgs")
    paths = []
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30)]):
        Image.new("RGB", (40, 32), colour).save(folder / f"img{i}.png")
        paths.append(folder / f"img{i}.png")
    return paths


@pytest.fixture(scope="module")
def tools_model(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-tools"), chat_template=TOOLS_CHAT_TEMPLATE)


@pytest.fixture(scope="module")
def loaded(tools_model):
    be = HFBackend(str(tools_model), GenerationSettings(max_tokens=4), make_registry(), device="cpu",
                   dtype="float32", tool_call_format="hermes", context=RunContext(tools=("zoom", "detector")))
    be.load()
    return be


def _prompt(be, request) -> str:
    enc = be.inputs([to_hf(request, be.images)], request.tools)
    return be.processor.tokenizer.decode(enc["input_ids"][0], skip_special_tokens=True)


def test_the_tools_reach_the_prompt_through_the_chat_template(loaded, image_files):
    req = make_request(loaded.images, images=image_files[:1])
    offered = _prompt(loaded, replace(req, tools=("zoom", "detector")))
    assert '"name": "zoom"' in offered and '"name": "detector"' in offered and "<tools>" in offered
    assert '"name": "references"' not in offered
    only_zoom = _prompt(loaded, replace(req, tools=("zoom",)))
    assert '"name": "zoom"' in only_zoom and '"name": "detector"' not in only_zoom
    assert "<tools>" not in _prompt(loaded, req)                     # no tools offered: none rendered


def test_a_later_turn_renders_the_call_its_result_and_the_tool_image(loaded, image_files):
    reg = loaded.images
    first = replace(make_request(reg, images=image_files[:1]), tools=("zoom",))
    said = Message("assistant", (TextPart("Closer."),),
                   tool_calls=(ToolCall("call_0", "zoom", json.dumps(ZOOM_ARGS)),))
    result = Message("tool", (TextPart("zoom: region [0, 0, 48, 48]"),), tool_call_id="call_0")
    crop = Message("user", (TextPart("Image returned by zoom (crop):"),
                            ImagePart(reg.add_file(image_files[1]), role="tool", label="crop")))
    later = replace(first, messages=(*first.messages, said, result, crop))
    text = _prompt(loaded, later)
    assert ('ASSISTANT: Closer.<tool_call>{"name": "zoom", "arguments": {"x1": 0, "y1": 0, "x2": 48, "y2": 48}}'
            '</tool_call>') in text
    assert "TOOL: <tool_response>zoom: region [0, 0, 48, 48]</tool_response>" in text
    enc = loaded.inputs([to_hf(later, reg)], later.tools)
    assert enc["pixel_values"].shape[0] == 2                         # the query and the crop


@pytest.mark.parametrize("options,says", [
    ({"chat_template": None}, "ignores the tools it is given"),           # the tiny model's plain template
    ({"chat_template": "{% if tools %}{{ raise_exception('no tools here') }}{% endif %}x"}, "no tools here"),
    ({"tool_call_format": None}, "--tool-call-format"),
])
def test_a_template_without_tools_or_no_format_is_one_clear_error(loaded, tmp_path, options, says):
    from mmad_eval.testing.tiny_vlm import CHAT_TEMPLATE

    opts = {"tool_call_format": "hermes", **options}
    if "chat_template" in options and options["chat_template"] is None:
        opts["chat_template"] = CHAT_TEMPLATE
    opts = {k: v for k, v in opts.items() if v is not None}
    be = HFBackend(loaded.model, loaded.generation, make_registry(), device="cpu", **opts)
    be.processor = loaded.processor
    with pytest.raises(ConfigError, match=says) as e:
        be.check_tools(("zoom",))
    assert "\n" not in str(e.value)
    loaded.check_tools(("zoom",))                                     # the tools template passes


def test_the_format_is_part_of_the_answer_keys_only_when_tools_are_offered(tools_model):
    def options(tools, fmt="hermes"):
        return HFBackend(str(tools_model), GenerationSettings(), make_registry(), tool_call_format=fmt,
                         context=RunContext(tools=tools)).identity()["options"]

    assert options(("zoom",)) == {"dtype": "auto", "tool_call_format": "hermes"}
    assert options(("zoom",), "json")["tool_call_format"] == "json"
    assert options(()) == {"dtype": "auto"}                           # a plain run keeps its keys
    with pytest.raises(ConfigError, match="unknown tool_call_format 'xml'"):
        options(("zoom",), "xml")


class ScriptedTokens(transformers.LogitsProcessor):
    """Forces each row's tokens to spell ``script(prompt)`` then the end of sequence (greedy picks them)."""

    def __init__(self, tokenizer, script):
        self.tokenizer, self.script, self.plans, self.start = tokenizer, script, None, 0

    def __call__(self, input_ids, scores):
        if self.plans is None:
            self.start = input_ids.shape[1]
            prompts = self.tokenizer.batch_decode(input_ids, skip_special_tokens=True)
            self.plans = [self.tokenizer.encode(self.script(p), add_special_tokens=False)
                          + [self.tokenizer.eos_token_id] for p in prompts]
        step = input_ids.shape[1] - self.start
        forced = torch.full_like(scores, float("-inf"))
        for i, plan in enumerate(self.plans):
            forced[i, plan[min(step, len(plan) - 1)]] = 0.0
        return forced


def zoom_then_b(prompt: str) -> str:
    return "B" if "<tool_response>" in prompt else \
        '<tool_call>\n{"name": "zoom", "arguments": ' + json.dumps(ZOOM_ARGS) + "}\n</tool_call>"


@pytest.fixture
def scripted(monkeypatch):
    """The backend's model generates through a scripted logits processor; counts generate calls."""
    calls = []
    load = HFBackend.load

    def scripted_load(self):
        load(self)
        generate = self.hf_model.generate
        if getattr(generate, "scripted", False):
            return

        def run(**kw):
            calls.append(kw["input_ids"].shape[0])
            processors = transformers.LogitsProcessorList([ScriptedTokens(self.processor.tokenizer, zoom_then_b)])
            return generate(**kw, logits_processor=processors)

        run.scripted = True
        self.hf_model.generate = run

    monkeypatch.setattr(HFBackend, "load", scripted_load)
    return calls


def test_a_whole_agent_run_through_the_model(synth_questions, tools_model, tmp_path, scripted, capsys):
    args = ["run", "--questions", str(synth_questions), "--model", f"hf:{tools_model}", "--out", str(tmp_path),
            "--name", "tiny", "--subtasks", "AD", "--agent", "zoom", "--tool-call-format", "hermes", "--max-tokens",
            "200", "--backend-option", "device=cpu", "--backend-option", "dtype=float32", "--quiet"]
    assert main(args) == 0
    assert scripted
    with Store(tmp_path) as store:
        members = store.members("tiny")
        rows = store.requests_for([m.request_key for m in members])
    for m in members:
        agent = json.loads(rows[m.request_key]["extra"])["agent"]
        assert agent["turns"] == 2 and agent["tool_calls"] == {"zoom": 1} and agent["invalid_tool_calls"] == 0
        assert agent["completion_tokens"] > 10 and rows[m.request_key]["text"] == "B"
    assert {a.parsed for a in load_parsed_run(tmp_path, "tiny").answers} == {"B"}
    capsys.readouterr()
    scripted.clear()
    assert main(args) == 0
    assert "asked 0," in capsys.readouterr().out and scripted == []


@pytest.mark.parametrize("model,extra,culprit,says", [
    ("openai:x", ["--base-url", "http://127.0.0.1:9/v1", "--agent", "zoom"], "--tool-call-format",
     "for in-process models"),
    ("hf:EMPTY", [], "--tool-call-format", "need --agent"),
    ("hf:EMPTY", ["--agent", "zoom"], "EMPTY", "could not load the processor"),
])
def test_misplaced_format_or_unreadable_model_is_one_line(synth_questions, tmp_path, capsys, model, extra, culprit,
                                                          says):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    model = model.replace("EMPTY", str(empty))
    assert main(["run", "--questions", str(synth_questions), "--model", model, "--out", str(tmp_path / "o"),
                 "--tool-call-format", "hermes", "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and culprit.replace("EMPTY", str(empty)) in err
    assert "a bug in mmad-eval" not in err
