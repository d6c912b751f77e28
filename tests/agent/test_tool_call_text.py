"""Reading tool calls out of generated text (in-process agent mode): the hermes and json formats."""
import json

import pytest
from hypothesis import assume, given, settings, strategies as st

from mmad_eval.backends.tool_call_text import read_tool_calls, write_tool_calls
from mmad_eval.settings import TOOL_CALL_FORMATS

ZOOM = {"x1": 0, "y1": 4, "x2": 48, "y2": 40}


def _calls(text, fmt="hermes"):
    read = read_tool_calls(text, fmt)
    return read.content, [(c["name"], json.loads(c["arguments"]) if c["name"] else c["arguments"])
                          for c in read.calls]


@pytest.mark.parametrize("text,content,calls", [
    ('<tool_call>\n{"name": "zoom", "arguments": {"x1": 0, "y1": 4, "x2": 48, "y2": 40}}\n</tool_call>',
     "", [("zoom", ZOOM)]),
    ('Let me look.\n<tool_call>{"name": "detector", "arguments": {}}</tool_call>\n'
     '<tool_call>{"name": "references", "arguments": {"k": 2}}</tool_call>',
     "Let me look.", [("detector", {}), ("references", {"k": 2})]),
    ('<tool_call>{"name": "zoom", "arguments": "{\\"x1\\": 0, \\"y1\\": 4, \\"x2\\": 48, \\"y2\\": 40}"}</tool_call>',
     "", [("zoom", ZOOM)]),                                      # arguments written as JSON text
    ('<tool_call>{"name": "references", "parameters": {"k": 1}}</tool_call>', "", [("references", {"k": 1})]),
    ('<tool_call>{"name": "detector"}</tool_call>', "", [("detector", {})]),   # no arguments: none needed
    ('<tool_call>{"name": "zoom", "arguments": {"x1": 1, "y1"', "", [("", '{"name": "zoom", "arguments": {"x1": 1, "y1"')]),
    ("B", "B", []),
    ("The answer is B. No <tool_call here>.", "The answer is B. No <tool_call here>.", []),
])
def test_hermes_blocks(text, content, calls):
    assert _calls(text) == (content, calls)


@pytest.mark.parametrize("body,name,why", [
    ("{x1: 0}", "", "not JSON"),
    ('{"arguments": {"k": 1}}', "", "no name"),
    ('{"name": 7, "arguments": {}}', "", "name not text"),
    ('{"name": "zoom", "arguments": [0, 0, 9, 9]}', "zoom", "arguments not an object"),
    ('{"name": "zoom", "arguments": "x1=0"}', "zoom", "arguments text not JSON"),
    ("", "", "empty"),
    ("[" * 100_000 + "]" * 100_000, "", "nested deeper than Python's parser goes"),
], ids=["not-json", "no-name", "name-not-text", "arguments-a-list", "arguments-text-not-json", "empty", "deep"])
def test_malformed_calls_are_kept_as_calls_with_their_raw_text(body, name, why):
    """Counted as invalid by the agent loop (it answers them with an error), never dropped, never a crash."""
    read = read_tool_calls(f"<tool_call>{body}</tool_call>", "hermes")
    assert len(read.calls) == 1, why
    assert read.calls[0]["name"] == name and read.calls[0]["arguments"] == body.strip()


@pytest.mark.parametrize("text,calls", [
    ('{"name": "zoom", "arguments": {"x1": 0, "y1": 4, "x2": 48, "y2": 40}}', [("zoom", ZOOM)]),
    ('```json\n[{"name": "detector", "arguments": {}}, {"name": "references", "arguments": {"k": 3}}]\n```',
     [("detector", {}), ("references", {"k": 3})]),
    ("  B  ", []),
    ("[1, 2]", []),                                   # not call objects: text
    ('{"answer": "B"}', []),                          # JSON without a call in it: an answer
    ('[{"name": "detector"}, 7]', [("detector", {}), ("", "7")]),
    ('{"name": "zoom", "arguments": {"x1": 0}', [("", '{"name": "zoom", "arguments": {"x1": 0}')]),
])
def test_json_format(text, calls):
    content, got = _calls(text, "json")
    assert got == calls and content == ("" if calls else text)


def test_a_truncated_last_block_is_a_call_and_text_around_blocks_is_content():
    read = read_tool_calls('Looking.<tool_call>{"name": "detector", "arguments": {}}</tool_call>'
                           'then <tool_call>{"name": "zo', "hermes")
    assert read.content == "Looking.then"
    assert [c["name"] for c in read.calls] == ["detector", ""] and read.calls[1]["arguments"] == '{"name": "zo'
    assert [c["id"] for c in read.calls] == ["call_0", "call_1"]


HOSTILE = st.lists(st.one_of(st.sampled_from(["<tool_call>", "</tool_call>", "{", "}", "[", "]", '"name"', ":",
                                              '"zoom"', '"arguments"', ",", '"', "\\", "\x00", "```", "json", "A",
                                              "\n", "null", '"\ud800"', "1e999"]),
                             st.text(max_size=8)), max_size=40).map("".join)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(HOSTILE, st.sampled_from(TOOL_CALL_FORMATS))
def test_any_text_reads_without_raising_into_well_typed_calls(text, fmt):
    read = read_tool_calls(text, fmt)
    assert isinstance(read.content, str)
    for c in read.calls:
        assert set(c) == {"id", "name", "arguments"} and all(isinstance(v, str) for v in c.values())
        assert len(c["name"]) <= 200
        if c["name"]:        # a named call's arguments are a JSON object, or the raw text it came in
            try:
                assert isinstance(json.loads(c["arguments"]), dict)
            except ValueError:
                pass


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                      max_size=3), max_leaves=8)
CALLS = st.lists(st.fixed_dictionaries({"name": st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
                                        "arguments": st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4)}),
                 min_size=1, max_size=4)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(CALLS, st.sampled_from(TOOL_CALL_FORMATS), st.text(alphabet="abc .\n", max_size=20))
def test_well_formed_calls_round_trip(calls, fmt, content):
    assume("</tool_call>" not in json.dumps(calls) and "<tool_call>" not in json.dumps(calls))
    text = write_tool_calls(calls, fmt, content if fmt == "hermes" else "")
    read = read_tool_calls(text, fmt)
    assert [(c["name"], json.loads(c["arguments"])) for c in read.calls] == \
        [(c["name"], c["arguments"]) for c in calls]
    assert read.content == (content.strip() if fmt == "hermes" else "")
