"""The cost and time plan: exact counts of the paper's study, nothing billed for the offline demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import main
from helpers.study.config import load_config
from helpers.study.plan import API_PRICES, plan_study, tokens_per_second

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper():
    config = load_config(REPO / "configs" / "paper.yaml")
    return config, plan_study(config).set_index("stage")


def test_paper_study_counts_are_the_papers_design(paper):
    _, table = paper
    per_variant = (500 + 500 + 125 + 500) * 28  # four tasks (Disinfo has 125 items) x 28 prompt variants
    assert table.loc["evaluate", "generations"] == 4 * 4 * per_variant == 728_000
    assert table.loc["evaluate", "api_calls"] == 728_000  # one judge verdict per answer
    assert table.loc["training_data", "api_calls"] == 2 * 3667  # warm and cold rewrite of every reply
    assert table.loc["warmth", "generations"] == 4 * 1500 * (1 + 2 * 8)  # original + 16 checkpoints
    assert table.loc["finetune", "runs"] == 8
    assert table.loc["finetune", "training_tokens"] == 8 * 3667 * 10 * 1024
    assert table.loc["evaluate", "output_tokens"] == 728_000 * 300  # the cap: an upper bound


def test_paper_study_is_priced_at_gpt4o_list_prices_and_sums_to_the_total(paper):
    _, table = paper
    price_in, price_out = API_PRICES["gpt-4o-2024-08-06"]
    evaluate = table.loc["evaluate"]
    expected = (evaluate.api_input_tokens * price_in + evaluate.api_output_tokens * price_out) / 1e6
    assert evaluate.api_usd == pytest.approx(expected)
    stages = table.drop(index="total")
    for column in ("generations", "api_calls", "gpu_hours", "api_usd"):
        assert table.loc["total", column] == pytest.approx(stages[column].sum())
    assert table.loc["total", "gpu_hours"] > 0 and table.loc["total", "unpriced"] == ""


def test_larger_models_take_more_gpu_time_per_token():
    small, _ = tokens_per_second("meta-llama/Llama-3.1-8B-Instruct", "generate")
    large, source = tokens_per_second("meta-llama/Llama-3.1-70B-Instruct", "generate")
    assert small / large == pytest.approx(70.6 / 8.03)
    assert "estimated" in source
    assert tokens_per_second("org/unknown-model", "train") == (None, "unknown model size")


def test_the_offline_demo_bills_no_api_and_little_cpu_time():
    table = plan_study(load_config(REPO / "configs" / "demo.yaml")).set_index("stage")
    assert table.loc["total", "api_calls"] == 0 and table.loc["total", "api_usd"] == 0
    assert table.loc["evaluate", "generations"] > 0
    assert 0 < table.loc["total", "gpu_hours"] < 5  # device-hours of the 2-core CPU, from docs/design.md


def test_plan_command_prints_each_stage_and_the_total_at_given_prices(capsys):
    assert main(["plan", str(REPO / "configs" / "paper.yaml"), "--price-in", "1", "--price-out", "0"]) == 0
    printed = capsys.readouterr().out
    for stage in ("training_data", "finetune", "warmth", "evaluate", "capabilities", "total"):
        assert stage in printed
    assert "728,000" in printed and "H100, estimated from FLOPs" in printed
