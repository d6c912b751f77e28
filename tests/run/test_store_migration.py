"""A store written by release 0.1.0 (schema 0, committed under fixtures/) is migrated, scores exactly as that
release scored it, resumes asking only what its killed run lost, and a store from a newer release is refused."""
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from mmad_eval.cli import main
from mmad_eval.errors import ConfigError
from mmad_eval.run.store_db import StoreError
from mmad_eval.run.store import DB_NAME, SCHEMA_VERSION, Store

FIXTURE = Path(__file__).parent / "fixtures" / "store_v0_1_0"


@pytest.fixture
def old(tmp_path) -> Path:
    """A copy of the fixture (data/ and out/): the committed files are never written."""
    shutil.copytree(FIXTURE / "data", tmp_path / "data")
    shutil.copytree(FIXTURE / "out", tmp_path / "out")
    return tmp_path


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def test_fixture_is_a_schema_0_store():
    assert _user_version(FIXTURE / "out" / DB_NAME) == 0


def test_old_store_is_migrated_and_scores_as_the_old_release_did(old, tmp_path):
    with Store(old / "out") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.run_names() == ["random", "blind-cumulative", "random-killed"]
        records = [store.run_record(n) for n in store.run_names()]
    assert all("parser" not in r["settings"] for r in records)                        # 0 -> 1
    assert [r["settings"]["protocol"]["references"] for r in records] == ["random"] * 3  # 1 -> 2
    assert all("templates" not in r["settings"]["protocol"] and "templates" not in r["enhancements"]
               for r in records)
    assert main(["score", str(old / "out"), "--json", str(tmp_path / "scores.json")]) == 0
    got, want = (json.loads(p.read_text()) for p in (tmp_path / "scores.json", FIXTURE / "scores_v0_1_0.json"))
    assert set(got) == set(want)
    for run in want:     # the numbers (the notes and counters beside them have grown since)
        for table in ("strict", "mmad"):
            for part in ("rows", "overall", "ci"):
                assert got[run][table][part] == want[run][table][part], (run, table, part)


def test_old_store_resumes_asking_only_what_was_lost(old, capsys):
    run = ["run", "--questions", str(old / "data" / "mmad.json"), "--out", str(old / "out"), "--quiet"]
    assert main(run + ["--model", "random", "--name", "random"]) == 0
    assert "asked 0, reused 16, failed 0" in capsys.readouterr().out
    assert main(run + ["--model", "blind", "--name", "blind-cumulative", "--question-mode", "cumulative",
                       "--circular"]) == 0
    assert "asked 0, reused 52" in capsys.readouterr().out
    assert main(run + ["--model", "random", "--name", "random-killed", "--seed", "7"]) == 0
    assert "asked 4, reused 12, failed 0" in capsys.readouterr().out
    # a setting that changes answers is still refused for an old run
    assert main(run + ["--model", "random", "--name", "random", "--seed", "3"]) == 2
    assert "settings.generation" in capsys.readouterr().err


def test_store_from_a_newer_release_is_refused_naming_the_file(old, capsys):
    path = old / "out" / DB_NAME
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer mmad-eval") as e:
        Store(old / "out")
    assert str(path) in str(e.value)
    assert main(["score", str(old / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "upgrade mmad-eval" in err and "Traceback" not in err
    assert _user_version(path) == SCHEMA_VERSION + 1      # left as it was


def test_new_store_has_the_current_version_and_a_corrupt_one_is_named(tmp_path):
    with Store(tmp_path / "new") as s:
        assert s.schema_version == SCHEMA_VERSION
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / DB_NAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match="not a readable mmad-eval store") as e:
        Store(tmp_path / "bad")
    assert str(tmp_path / "bad" / DB_NAME) in str(e.value)


def test_reading_an_old_store_never_writes_it(old, tmp_path):
    """Scores, reports and merge sources open stores read-only: an old store on read-only media (an archive, a
    colleague's folder) migrates in a view, scores as the old release scored it, and the file is untouched."""
    archived = tmp_path / "archive #1" / "out"          # a folder name that needs quoting in a SQLite URI
    shutil.copytree(old / "out", archived)
    before = (archived / DB_NAME).read_bytes()
    with Store(archived, read_only=True) as store:
        assert store.run_names() == ["random", "blind-cumulative", "random-killed"]
        record = store.run_record("random")
        assert "parser" not in record["settings"] and record["settings"]["protocol"]["references"] == "random"
        with pytest.raises(StoreError, match="read-only"):
            store.put_run("random", record)                 # a read-only store refuses writes, even to its view
    assert main(["score", str(archived), "--json", str(tmp_path / "scores.json")]) == 0
    got, want = (json.loads(p.read_text()) for p in (tmp_path / "scores.json", FIXTURE / "scores_v0_1_0.json"))
    assert set(got) == set(want)
    for run in want:
        for table in ("strict", "mmad"):
            for part in ("rows", "overall", "ci"):
                assert got[run][table][part] == want[run][table][part], (run, table, part)
    assert main(["merge", str(archived), "--out", str(tmp_path / "merged")]) == 0
    with Store(tmp_path / "merged") as merged:
        assert merged.run_record("random")["settings"]["protocol"]["references"] == "random"
    assert _user_version(archived / DB_NAME) == 0 and (archived / DB_NAME).read_bytes() == before


@pytest.mark.parametrize("tables, shown", [(["photos"], "photos)"),
                                           ([f"t{i}" for i in range(5)], "t0, t1, t2, t3, t4)"),
                                           ([f"t{i}" for i in range(6)], "t0, t1, t2, t3, t4 and 1 more)"),
                                           ([f"t{i}" for i in range(7)], "t0, t1, t2, t3, t4 and 2 more)")])
def test_another_programs_sqlite_file_is_never_written_into(tmp_path, capsys, tables, shown):
    """A SQLite file named like our store but holding someone else's tables: one line, not a byte changed."""
    import sqlite3

    from mmad_eval.cli import main
    from run_engine_helpers import make_dataset

    questions = make_dataset(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    db = sqlite3.connect(out / "mmad-eval.sqlite")
    for t in tables:
        db.execute(f"CREATE TABLE {t} (x)")
        db.execute(f"INSERT INTO {t} VALUES ('mine')")
    db.commit()
    db.close()
    before = (out / "mmad-eval.sqlite").read_bytes()
    rc = main(["run", "--questions", str(questions), "--model", "random", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "another program's SQLite database" in err
    assert str(out / "mmad-eval.sqlite") in err and f"(tables: {shown}" in err
    assert (out / "mmad-eval.sqlite").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["mmad-eval.sqlite"]
