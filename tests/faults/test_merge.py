"""merge is all-or-nothing and idempotent."""
from __future__ import annotations

import sqlite3

from fault_helpers import cli, one_error_line, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.testing.openai_server import FakeOpenAIServer


def _state(db_path) -> tuple:
    with sqlite3.connect(db_path) as db:
        return (db.execute("SELECT key, status, text FROM requests ORDER BY key").fetchall(),
                db.execute("SELECT * FROM members ORDER BY run, qid, rotation").fetchall(),
                db.execute("SELECT name, record FROM runs ORDER BY name").fetchall())


def test_merge_twice_changes_nothing_and_a_failed_merge_leaves_the_target_as_it_was(dataset, tmp_path):
    with FakeOpenAIServer() as srv:
        for i in range(2):
            assert cli(*run_args(dataset, tmp_path / f"s{i}", srv.base_url, "--shard", f"{i}/2")).returncode == 0
        assert cli(*run_args(dataset, tmp_path / "other", srv.base_url, "--max-side", "16")).returncode == 0
    m = tmp_path / "merged"
    assert cli("merge", tmp_path / "s0", tmp_path / "s1", "--out", m).returncode == 0
    first = _state(m / "mmad-eval.sqlite")
    assert cli("merge", tmp_path / "s0", tmp_path / "s1", "--out", m).returncode == 0
    assert _state(m / "mmad-eval.sqlite") == first                     # idempotent: merged_from not doubled
    line = one_error_line(cli("merge", tmp_path / "s0", tmp_path / "other", "--out", tmp_path / "new"))
    assert "different settings" in line
    assert not (tmp_path / "new" / "mmad-eval.sqlite").exists()        # nothing half-filled
    line = one_error_line(cli("merge", tmp_path / "other", "--out", m))
    assert _state(m / "mmad-eval.sqlite") == first                     # target unchanged by the failed merge
    assert {p.name for p in m.iterdir()} <= {"mmad-eval.sqlite", "mmad-eval.sqlite-wal",
                                             "mmad-eval.sqlite-shm"}   # no temporary file left (SQLite's own WAL)
