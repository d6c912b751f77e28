"""Parsing is its own stage: runs load with their stored replies, and the parse stage fills the letters."""
import shutil
from pathlib import Path

from mmad_eval.parse import PARSER_VERSION
from mmad_eval.parse.stage import NO_NUMBERED_LINE, parse_answers, parse_run
from mmad_eval.run.load import load_run
from mmad_eval.answers import AnswerRecord

FIXTURE = Path(__file__).parents[1] / "run" / "fixtures" / "store_v0_1_0" / "out"


def test_runs_load_unparsed_and_the_stage_parses_them(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "out")
    run = load_run(tmp_path / "out", "blind-cumulative")
    assert run.answers and all(a.reply and a.parsed is None and a.rule is None for a in run.answers)
    parsed = parse_run(run)
    assert parsed.record["parser_version"] == PARSER_VERSION
    assert all(a.parsed in a.options and a.rule and a.reference_parsed == a.parsed for a in parsed.answers)


def test_errors_stay_unparsed_and_a_missing_numbered_line_is_named():
    failed = AnswerRecord(image="D/c/x.png", index=0, type="Anomaly Detection", options={"A": "Yes", "B": "No"},
                          answer="A", error="server_error: boom")
    lost = AnswerRecord(image="D/c/x.png", index=1, type="Anomaly Detection", options={"A": "Yes", "B": "No"},
                        answer="A", reply="1: A", meta={"segment": None})
    parse_answers([failed, lost])
    assert (failed.parsed, failed.rule) == (None, None)
    assert (lost.parsed, lost.rule, lost.reference_parsed) == (None, NO_NUMBERED_LINE, None)
