"""One bad reply never ends a run: a lone surrogate is stored with U+FFFD and noted, the others are kept."""
from __future__ import annotations

from fault_helpers import cli, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.parse.stage import load_parsed_run as load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer, hashed_letter


def test_lone_surrogate_reply_is_stored_with_replacement_and_the_run_finishes(dataset, tmp_path):
    calls = []

    def responder(body):
        calls.append(1)
        return "\ud800 A" if len(calls) % 3 == 0 else hashed_letter(body)

    out = tmp_path / "out"
    with FakeOpenAIServer(responder=responder) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url))
        assert proc.returncode == 0, proc.stderr
        again = cli(*run_args(dataset, out, srv.base_url))
        assert srv.count == 16 and "asked 0, reused 16" in again.stdout
    answers = load_run(out).answers
    odd = [a for a in answers if a.reply and "\ufffd" in a.reply]
    assert len(answers) == 16 and all(a.reply for a in answers) and odd
    assert all("replaced_characters" in a.meta["note"] for a in odd)
    assert all(a.parsed == "A" for a in odd)
    assert cli("score", out, "--bootstrap", "0").returncode == 0
    assert cli("report", out, "--out", tmp_path / "r.html", "--no-images").returncode == 0
