"""Token usage and list-price cost of a preset run are recorded (and shown by reports)."""
import pytest

from mmad_eval.cli import main
from mmad_eval.run.engine import with_cost
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.testing.openai_server import FakeOpenAIServer


def test_with_cost_uses_price_per_million_tokens():
    usage = {"prompt_tokens": 2_000_000, "completion_tokens": 100_000}
    assert with_cost(usage, {"input": 2.5, "output": 10.0})["cost_usd"] == pytest.approx(6.0)
    assert "cost_usd" not in with_cost(usage, {})
    assert "cost_usd" not in with_cost({"prompt_tokens": None}, {"input": 1.0})


def test_preset_run_records_tokens_and_cost(dataset, tmp_path):
    with FakeOpenAIServer() as srv:
        assert main(["run", "--questions", str(dataset), "--model", "gpt-4o", "--base-url", srv.base_url,
                     "--out", str(tmp_path), "--quiet"]) == 0
    usage = load_parsed_run(tmp_path, "gpt-4o").record["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    expected = usage["prompt_tokens"] * 2.5e-6 + usage["completion_tokens"] * 10e-6
    assert usage["cost_usd"] == pytest.approx(expected, rel=1e-4)
