"""The optional LLM judge, driven by a scripted backend."""
from mmad_eval.backends.base import Backend, GenerationSettings, Response
from mmad_eval.parse import parse_reply
from mmad_eval.parse.judge import LLMJudge
from mmad_eval.prompt.images import ImageRegistry

OPTS = {"A": "Scratch.", "B": "Crack.", "C": "Dent."}


class Scripted(Backend):
    kind = "scripted"
    sees_images = False

    def __init__(self, answers):
        super().__init__("script", GenerationSettings(), ImageRegistry())
        self.answers = list(answers)
        self.seen = []

    async def generate(self, items, emit):
        for key, request in items:
            self.seen.append(request)
            text = self.answers.pop(0)
            if text is None:
                emit(Response(key=key, error_type="server_error", error_message="boom"))
            else:
                emit(Response(key=key, text=text))


def test_judge_maps_reply_and_caches():
    backend = Scripted(["B"])
    judge = LLMJudge(backend)
    reply = "the long thin line suggests the second option"
    assert parse_reply(reply, OPTS, judge=judge) == ("B", "judge")
    assert parse_reply(reply, OPTS, judge=judge) == ("B", "judge")      # cached: backend asked once
    assert len(backend.seen) == 1
    prompt = backend.seen[0].messages[-1].text
    assert "B. Crack." in prompt and reply in prompt
    assert [c.cached for c in judge.log] == [False, True]
    assert judge.log[0].judge_text == "B"


def test_judge_none_unknown_letter_and_failures():
    backend = Scripted(["None", "Answer: E", None, "C"])
    judge = LLMJudge(backend)
    assert judge.judge_many([("r1", OPTS), ("r2", OPTS), ("r3", OPTS)]) == [None, None, None]
    assert judge.log[2].error == "server_error: boom"
    assert judge("r3", OPTS) == "C"           # a failed call was not cached: asked again
    assert len(backend.seen) == 4


def test_judge_uses_external_cache_callable():
    store = {}

    def cache(key, text=None):
        if text is not None:
            store[key] = text
        return store.get(key)

    LLMJudge(Scripted(["A"]), cache)("something", OPTS)
    fresh_backend = Scripted([])                 # would fail if asked
    assert LLMJudge(fresh_backend, cache)("something", OPTS) == "A"
    assert fresh_backend.seen == []
