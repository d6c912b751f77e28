"""Every row MMAD published (all_result/ of jam-cc/MMAD) has a preset, a model and a command that runs, and the
preset's shots are the row's."""
from __future__ import annotations

import shlex

import pytest

from mmad_eval.cli import build_parser, main
from mmad_eval.commands.run import settings_from_args
from mmad_eval.run.protocol_presets import PRESETS
from mmad_eval.run.published_rows import PUBLISHED_ROWS

# `git ls-tree --name-only bad03b4 all_result/` of jam-cc/MMAD
ALL_RESULT = """answers_0_shot_SPHINX-v2-1k_accuracy.csv answers_0_shot_cambrian-8b_accuracy.csv
answers_1_shot_AnomalyGPT_train_mvtec_accuracy.csv answers_1_shot_InternVL2-8B_accuracy.csv
answers_1_shot_InternVL2-Llama3-76B_accuracy.csv answers_1_shot_MiniCPM-V-2_6_accuracy.csv
answers_1_shot_Qwen-VL-Chat_accuracy.csv answers_1_shot_Qwen2-VL-72B-Instruct_accuracy_test1.csv
answers_1_shot_Qwen2-VL-7B-Instruct_accuracy.csv answers_1_shot_Qwen2.5-VL-72B-Instruct-AWQ_accuracy.csv
answers_1_shot_Qwen2.5-VL-7B-Instruct_accuracy.csv answers_1_shot_claude-3-5-sonnet-20241022_accuracy.csv
answers_1_shot_gemini-1.5-flash_accuracy.csv answers_1_shot_gemini-1.5-pro_accuracy.csv
answers_1_shot_gpt-4o-mini_accuracy.csv answers_1_shot_gpt-4o_accuracy.csv
answers_1_shot_internlm-xcomposer2-vl-7b_accuracy.csv answers_1_shot_llava-next-interleave-qwen-7b-dpo_accuracy.csv
answers_1_shot_llava-onevision-qwen2-7b-si_accuracy.csv answers_1_shot_llava-v1.5-13b_accuracy.csv
answers_1_shot_llava-v1.5-7b_accuracy.csv answers_1_shot_llava-v1.6-34b_accuracy.csv""".split()


def test_every_published_file_has_exactly_one_row():
    assert sorted(r.csv for r in PUBLISHED_ROWS) == sorted(ALL_RESULT) and len(ALL_RESULT) == 22


@pytest.mark.parametrize("row", PUBLISHED_ROWS, ids=lambda r: r.model)
def test_each_command_parses_into_the_rows_protocol(row, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    argv = shlex.split(row.command())
    assert argv[:2] == ["mmad-eval", "run"]
    args = build_parser(only="run").parse_args(argv[1:] + ["--out", "unused"])
    settings = settings_from_args(args)
    assert settings.preset == row.preset in PRESETS and settings.overrides == ()
    assert settings.protocol.shots == row.shots          # 0-shot rows: the script's default, the preset's
    assert row.differences, "say what is known to differ"


def test_protocols_published_lists_all_rows(capsys):
    assert main(["protocols", "--published"]) == 0
    out = capsys.readouterr().out
    assert all(f"all_result/{name}" in out for name in ALL_RESULT)
    assert out.count("mmad-eval run --questions") == 22
    assert "Avg 54.74" in out and "Avg 36.20" in out     # llava-v1.5-7b and AnomalyGPT, as their CSVs
