"""--limit draws a seeded sample stratified by subtask, dataset, category and normal/defective image."""
import json
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from mmad_eval.cli import main
from mmad_eval.questions.generate.build import generate_questions
from mmad_eval.questions.mmad_io import write_mmad_json
from mmad_eval.run.slices import Slice, apply_slice, stratified_sample, stratum
from mmad_eval.sources.detect import load_source
from mmad_eval.sources.synth import generate_synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = generate_synthetic(tmp_path_factory.mktemp("synth") / "s", seed=0, size=96, workers=1)
    result = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json")
    write_mmad_json(result.questions, root / "questions.json")
    return root, result.questions


def picked(qs, sl):
    return [(e, q) for e, sel in apply_slice(qs, sl) for q in sel]


def test_limit_40_holds_normal_and_defective_images_of_several_categories(synth):
    _, qs = synth
    for seed in (0, 1):
        got = picked(qs, Slice(limit=40, sample_seed=seed))
        assert len(got) == 40
        ad = [(e.is_normal, q.category) for e, q in got if q.type == "Anomaly Detection"]
        assert {n for n, _ in ad} == {True, False}                       # AD can be scored: both classes
        assert len({q.category for _, q in got}) >= 8                    # 10 categories in the set
        assert len({q.type for _, q in got}) >= 6
    first = {q.qid for _, q in picked(qs, Slice(limit=40))}
    second = {q.qid for _, q in picked(qs, Slice(limit=40, sample_seed=1))}
    assert first != second and first == {q.qid for _, q in picked(qs, Slice(limit=40))}   # seeded


def test_first_keeps_file_order(synth):
    _, qs = synth
    in_order = [q.qid for e in qs.entries.values() for q in e.questions][:40]
    assert [q.qid for _, q in picked(qs, Slice(limit=40, sample="first"))] == in_order
    assert len({q.category for _, q in picked(qs, Slice(limit=40, sample="first"))}) <= 2   # why it is not the default


@settings(max_examples=40, derandomize=True, deadline=None)
@given(n=st.integers(1, 400), seed=st.integers(0, 10**6))
def test_every_subtask_gets_its_share_rounded_down_or_up(synth, n, seed):
    _, qs = synth
    cands = [(e, q) for e in qs.entries.values() for q in e.questions]
    chosen = stratified_sample(cands, n, seed)
    assert len(chosen) == min(n, len(cands))
    for level in (1, 2):     # subtasks; subtask x normal/defective within the subtask's seats
        sizes = Counter(stratum(e, q)[:level] for e, q in cands)
        got = Counter(stratum(e, q)[:level] for e, q in cands if q.qid in chosen)
        for k, size in sizes.items():
            parent = k[:-1]
            seats = n if not parent else sum(v for kk, v in got.items() if kk[:-1] == parent)
            pool = len(cands) if not parent else sum(v for kk, v in sizes.items() if kk[:-1] == parent)
            share = seats * size / pool
            assert int(share) <= got[k] <= int(share) + 1


def test_the_sample_is_recorded_with_the_run(synth, tmp_path, capsys):
    root, _ = synth
    out = tmp_path / "runs"
    assert main(["run", "--questions", str(root / "questions.json"), "--model", "random", "--out", str(out),
                 "--limit", "40", "--sample-seed", "3", "--quiet"]) == 0
    from mmad_eval.run.store import Store

    store = Store(out, read_only=True)
    record = store.run_record("random")
    store.close()
    assert record["slice"]["limit"] == 40 and record["slice"]["sample"] == "stratified"
    assert record["slice"]["sample_seed"] == 3
