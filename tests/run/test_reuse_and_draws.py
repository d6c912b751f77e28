"""Answers reused from another run are named; --draw K is a fresh draw under its own answer key."""
import re

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_runs


def run(dataset, out, *extra):
    return main(["run", "--questions", str(dataset), "--model", "random", "--out", str(out), "--quiet", *extra])


def test_a_new_name_with_equal_settings_says_whose_answers_it_reuses(dataset, tmp_path, capsys):
    out = tmp_path / "runs"
    assert run(dataset, out) == 0
    first = capsys.readouterr().out
    assert "shared with" not in first
    assert run(dataset, out, "--name", "again") == 0
    line = capsys.readouterr().out
    n = int(re.search(r"reused (\d+)", line).group(1))
    assert n > 0 and f"shared with run random ({n})" in line
    assert run(dataset, out, "--name", "third") == 0
    assert "shared with runs again" in capsys.readouterr().out       # two holders now, both named
    assert run(dataset, out, "--name", "other-seed", "--seed", "5") == 0
    assert "shared with" not in capsys.readouterr().out              # nothing reused: nothing to name


def test_draws_are_new_answers_recorded_with_the_run(dataset, tmp_path, capsys):
    out = tmp_path / "runs"
    assert run(dataset, out, "--name", "d0") == 0
    assert run(dataset, out, "--name", "d1", "--draw", "1") == 0
    assert run(dataset, out, "--name", "d0-again", "--draw", "0") == 0
    lines = capsys.readouterr().out
    assert re.search(r"d1: .*asked (\d+), reused 0", lines) and "d0-again" in lines
    runs = {r.name: r for r in load_parsed_runs(out)}
    letters = {name: [a.reply for a in r.answers] for name, r in runs.items()}
    assert letters["d0"] == letters["d0-again"] and letters["d0"] != letters["d1"]
    assert runs["d1"].record["settings"]["generation"]["draw"] == 1
    assert "draw" not in runs["d0"].record["settings"]["generation"]   # draw 0 keeps older keys and records


def test_score_names_parser_rules_in_words_and_shows_no_python_reprs(dataset, tmp_path, capsys):
    from mmad_eval.parse.cascade import RULES

    out = tmp_path / "runs"
    assert run(dataset, out) == 0 and run(dataset, out, "--name", "blind-ish", "--seed", "3") == 0
    capsys.readouterr()
    assert main(["score", str(out)]) == 0
    text = capsys.readouterr().out
    assert "read by letter alone" in text
    assert not any(re.search(rf"\b{rule}\b", text) for rule in RULES if "_" in rule)
    assert "None" not in text and "nan" not in text.split()
