"""The benchmark command's arithmetic on a tiny model: the methods, one table, the closing line."""

import re

from helpers.benchmark import benchmark_generation, demo_workload


def test_the_workload_is_spread_over_the_demo_tasks():
    workload = demo_workload(6)
    assert workload.n_prompts == 6 and len(workload.prompts) == 4
    assert sorted(len(p) for p in workload.prompts.values()) == [1, 1, 2, 2]


def test_the_benchmark_compares_both_loops_with_the_float32_reference(tiny_model_dir, capsys):
    rows = benchmark_generation(n_prompts=4, max_new_tokens=4, batch_size=2, model=str(tiny_model_dir))
    out = capsys.readouterr().out
    project = ["project, float32 b2 no refill", "project, float32 b2 refill"]
    assert list(rows) == ["float32 batch 1 (reference)", "plain generate, bfloat16 b2", *project]
    assert rows["float32 batch 1 (reference)"]["equal_to_reference"] == 4
    for name in project:  # float32 answers do not depend on the batch, nor on refill
        assert rows[name]["equal_to_reference"] == 4
    fastest = min(project, key=lambda name: rows[name]["seconds"])
    assert f"fastest project method: {fastest}" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"speedup \d+\.\d\dx over plain generate; equal to float32 batch-1: project 4/4, plain \d/4", last
    )


def test_the_reference_can_answer_a_spread_subset(tiny_model_dir, capsys):
    rows = benchmark_generation(
        n_prompts=8, max_new_tokens=3, batch_size=4, reference_prompts=3, model=str(tiny_model_dir)
    )
    assert rows["project, float32 b4 refill"]["equal_to_reference"] == 3
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith(
            "project 3/3, plain " + str(rows["plain generate, bfloat16 b4"]["equal_to_reference"]) + "/3"
        )
    )


def test_each_precision_asked_for_gets_its_rows_and_a_bad_one_is_named(tiny_model_dir, capsys):
    import pytest

    from helpers.validation import ParameterError

    rows = benchmark_generation(
        n_prompts=4, max_new_tokens=3, batch_size=2, reference_prompts=2, project_dtypes=("float32", "bfloat16"),
        model=str(tiny_model_dir),
    )  # fmt: skip
    assert {"project, bfloat16 b2 refill", "project, float32 b2 no refill"} <= set(rows)
    with pytest.raises(ParameterError, match="project_dtypes"):
        benchmark_generation(n_prompts=4, project_dtypes=("fp8",), model=str(tiny_model_dir))
