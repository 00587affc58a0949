"""The benchmark command's arithmetic on a tiny model: three methods, one table, the closing line."""

import re

from helpers.benchmark import benchmark_generation, demo_workload


def test_the_workload_is_spread_over_the_demo_tasks():
    workload = demo_workload(6)
    assert workload.n_prompts == 6 and len(workload.prompts) == 4
    assert sorted(len(p) for p in workload.prompts.values()) == [1, 1, 2, 2]


def test_the_benchmark_compares_both_loops_with_the_float32_reference(tiny_model_dir, capsys):
    rows = benchmark_generation(n_prompts=4, max_new_tokens=4, batch_size=2, model=str(tiny_model_dir))
    out = capsys.readouterr().out
    assert list(rows) == ["float32 batch 1 (reference)", "plain generate, bfloat16 b2", "project, float32 b2"]
    assert rows["float32 batch 1 (reference)"]["equal_to_reference"] == 4
    assert (
        rows["project, float32 b2"]["equal_to_reference"] == 4
    )  # float32 answers do not depend on the batch
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"speedup \d+\.\d\dx over plain generate; equal to float32 batch-1: project 4/4, plain \d/4", last
    )


def test_the_reference_can_answer_a_spread_subset(tiny_model_dir, capsys):
    rows = benchmark_generation(
        n_prompts=8, max_new_tokens=3, batch_size=4, reference_prompts=3, model=str(tiny_model_dir)
    )
    assert rows["project, float32 b4"]["equal_to_reference"] == 3
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith(
            "project 3/3, plain " + str(rows["plain generate, bfloat16 b4"]["equal_to_reference"]) + "/3"
        )
    )
