"""The `run` and `merge` commands end to end with the seeded `random` baseline."""
from __future__ import annotations

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_run


def test_run_resume_and_merge_cli(dataset, tmp_path, capsys):
    base = ["run", "--questions", str(dataset), "--model", "random", "--quiet"]
    assert main(base + ["--out", str(tmp_path / "all")]) == 0
    assert "asked 16, reused 0, failed 0" in capsys.readouterr().out
    assert main(base + ["--out", str(tmp_path / "all")]) == 0
    assert "asked 0, reused 16" in capsys.readouterr().out
    for i in range(2):
        assert main(base + ["--out", str(tmp_path / f"s{i}"), "--shard", f"{i}/2"]) == 0
    assert main(["merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "m")]) == 0
    a = {x.qid: x.reply for x in load_parsed_run(tmp_path / "all").answers}
    assert a == {x.qid: x.reply for x in load_parsed_run(tmp_path / "m").answers} and len(a) == 16


def test_cli_reports_bad_options_in_one_line(dataset, tmp_path, capsys):
    rc = main(["run", "--questions", str(dataset), "--model", "random", "--out", str(tmp_path), "--shard", "2/2"])
    assert rc == 2 and "shard i/N needs 0 <= i < N" in capsys.readouterr().err
    rc = main(["run", "--questions", str(dataset), "--model", "nosuch", "--out", str(tmp_path)])
    assert rc == 2 and "unknown model" in capsys.readouterr().err
