"""Beyond the paper: seeds as a study axis and the warmth-accuracy dose-response, on simulated rows with planted
effects; the config keys that ask for them; the runs the runner and the plan add; the book part they make."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers.analysis import dose_response, seeds
from helpers.analysis.summary import beyond_paper_summary
from helpers.paths import study_dir
from helpers.storage import atomic_write_csv, atomic_write_json
from helpers.study.book import companion_studies, write_toc
from helpers.study.config import load_config
from helpers.study.plan import format_plan, plan_study
from helpers.study.runner import plan_runs
from helpers.validation import ParameterError

REPO = Path(__file__).resolve().parents[1]
SLUG = "SmolLM2-135M-Instruct"


def _answers(variant: str, items: int, correct: np.ndarray, template: str = "original") -> pd.DataFrame:
    return pd.DataFrame({
        "model": "m", "variant": variant, "task": "trivia", "item_id": [f"q{i}" for i in range(items)],
        "prompt_template": template, "amendment_type": "unmodified",
        "evaluation": np.where(correct, "CORRECT", "INCORRECT"), "refusal": False, "response_length": 10,
    })  # fmt: skip


def _seed_rows(gaps_by_seed: dict[int, float], items: int = 200, base: float = 0.6) -> pd.DataFrame:
    """Original and warm answers per seed; the warm model loses ``gap`` of the original's accuracy at that seed."""
    frames = []
    for seed, gap in gaps_by_seed.items():
        rng = np.random.default_rng(seed)
        for template in ("original", "incorrect"):
            frames.append(_answers("original", items, rng.random(items) < base, template).assign(seed=seed))
            warm = rng.random(items) < base - gap
            frames.append(_answers("warm", items, warm, template).assign(seed=seed))
    return pd.concat(frames, ignore_index=True)


def test_a_planted_gap_is_recovered_in_every_seed():
    gaps = seeds.seed_gaps(_seed_rows({0: 0.2, 1: 0.2, 2: 0.2}), "warm")
    assert list(gaps["seed"]) == [0, 1, 2]
    assert all(low < 20 < high for low, high in zip(gaps["ci_low"], gaps["ci_high"], strict=True))
    assert gaps["n_items"].eq(200).all() and gaps["n_pairs"].eq(400).all()


def test_the_pooled_interval_is_wider_than_one_seeds_when_the_seeds_disagree():
    rows = _seed_rows({0: 0.25, 1: -0.25, 2: 0.0})
    per_seed = seeds.seed_gaps(rows, "warm")
    pooled = seeds.pooled_seed_gap(rows, "warm")
    widest_seed = (per_seed["ci_high"] - per_seed["ci_low"]).max()
    assert pooled["ci_high"] - pooled["ci_low"] > 2 * widest_seed
    assert pooled["ci_low"] < 0 < pooled["ci_high"] and pooled["n_seeds"] == 3


def test_agreeing_seeds_pool_to_a_standard_error_below_any_single_seeds():
    rows = _seed_rows({0: 0.2, 1: 0.2, 2: 0.2})
    pooled = seeds.pooled_seed_gap(rows, "warm")
    # The seeds agree, so the item-clustered term over all three draws rules, and three draws know more than one.
    assert pooled["se_pp"] == pooled["within_se_pp"] < seeds.seed_gaps(rows, "warm")["se_pp"].min()
    assert pooled["ci_low"] > 0, "three seeds that each show a 20 pp loss pool to an interval above zero"
    assert "excludes zero" in seeds.seeds_verdict(seeds.seeds_summary(rows, ["warm"]))


def _dose_rows(slope: float, seed: int, items: int = 150) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Original (epoch 0) and warm checkpoints 1, 2 answering the same items; error log-odds rise by ``slope``
    per WARMTH_UNIT of the checkpoint's warmth, around a random item intercept."""
    rng = np.random.default_rng(seed)
    warmth = {("original", 0.0): 0.010, ("warm", 1.0): 0.020, ("warm", 2.0): 0.030}
    intercept = rng.normal(-1.0, 1.0, items)
    frames = []
    for (variant, epoch), w in warmth.items():
        for template in dose_response.CONDITIONS:
            logit = intercept + slope * (w - 0.010) / dose_response.WARMTH_UNIT
            wrong = rng.random(items) < 1 / (1 + np.exp(-logit))
            frames.append(_answers(variant, items, ~wrong, template).assign(epoch=epoch, model_dir=SLUG))
    table = pd.DataFrame(
        [{"model": SLUG, "variant": v, "epoch": e, "mean": w, "sem": 0.001} for (v, e), w in warmth.items()]
    )
    return pd.concat(frames, ignore_index=True), table


def test_a_planted_positive_slope_is_recovered_and_significant():
    rows, warmth = _dose_rows(slope=0.8, seed=1)
    trends = dose_response.trend_tests(rows, warmth)
    assert set(trends["condition"]) == {"plain", "incorrect belief"}
    assert (trends["slope"] > 0).all() and (trends["p_value"] < 0.05).all()
    # A population-averaged slope is the planted per-item one attenuated by the items' spread (about 0.86 here).
    assert trends["slope"].between(0.4, 1.0).all()
    assert "is significant at 0.05" in dose_response.trend_verdict(trends)


def test_without_a_planted_slope_the_trend_is_mostly_not_significant():
    significant = 0
    for seed in range(20):
        rows, warmth = _dose_rows(slope=0.0, seed=100 + seed)
        trends = dose_response.trend_tests(rows, warmth)
        significant += int((trends["p_value"] < 0.05).sum())
    assert significant <= 6, f"{significant} of 40 null trends significant at 0.05"


def test_dose_points_give_each_checkpoint_its_warmth_and_error_with_an_interval():
    rows, warmth = _dose_rows(slope=0.8, seed=2)
    points = dose_response.dose_points(rows, warmth)
    plain = points[points["condition"].eq("plain")]
    assert list(plain["epoch"]) == [0.0, 1.0, 2.0]
    assert list(plain["warmth"]) == [0.010, 0.020, 0.030]
    assert (plain["ci_low"] <= plain["error_pct"]).all() and (plain["error_pct"] <= plain["ci_high"]).all()
    assert plain["error_pct"].iloc[-1] > plain["error_pct"].iloc[0]


def _write(rows: pd.DataFrame, folder: Path) -> None:
    atomic_write_csv(
        rows.drop(columns=[c for c in ("seed", "epoch", "model_dir") if c in rows]), folder / "trivia.csv"
    )


def test_seed_rows_are_read_from_the_main_folder_and_each_seed_folder():
    root = study_dir("seeded") / SLUG
    rows = _seed_rows({0: 0.1, 3: 0.1}, items=5)
    for (seed, variant), group in rows.groupby(["seed", "variant"]):
        _write(group, root / variant / ("" if seed == 0 else f"seed{seed}"))
    read = seeds.load_seed_rows("seeded", study_seed=0)
    assert sorted(read["seed"].unique()) == [0, 3] and len(read) == len(rows)
    assert seeds.compared_seed_variants(read) == ["warm"]


def test_a_study_without_extra_seeds_has_no_seed_rows():
    rows = _seed_rows({0: 0.1}, items=5)
    for variant, group in rows.groupby("variant"):
        _write(group, study_dir("single") / SLUG / variant)
    assert seeds.load_seed_rows("single", study_seed=0).empty


def test_dose_rows_put_the_original_at_zero_the_main_evaluation_at_the_selected_checkpoint():
    root = study_dir("dosed") / SLUG
    rows, _ = _dose_rows(slope=0.0, seed=3, items=4)
    _write(rows[rows["variant"].eq("original")], root / "original")
    _write(rows[rows["epoch"].eq(1.0)], root / "warm" / "epoch1")
    main = rows[rows["epoch"].eq(2.0)]
    sad = main.assign(
        amendment_type="emotion:sad"
    )  # the main evaluation asks more; the dose-response keeps plain
    _write(pd.concat([main, sad]), root / "warm")
    read = dose_response.load_dose_rows("dosed", selected_checkpoint=2)
    assert sorted(read.groupby(["variant", "epoch"]).size().items()) == [
        (("original", 0.0), 8),
        (("warm", 1.0), 8),
        (("warm", 2.0), 8),
    ]
    assert dose_response.load_dose_rows("nothing-here", selected_checkpoint=2).empty


def _demo(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text()) | changes
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("changes", "name", "value", "allowed"),
    [
        ({"evaluation_seeds": [0, -1]}, "evaluation_seeds", -1, "distinct integers >= 0"),
        ({"evaluation_seeds": [1, 1]}, "evaluation_seeds", [1, 1], "distinct integers >= 0"),
        ({"dose_response": ["hot"]}, "dose_response", "hot", "'warm', 'cold'"),
        ({"dose_response": ["warm", "warm"]}, "dose_response", ["warm", "warm"], "distinct styles"),
        ({"styles": ["warm"], "variants": ["original", "warm"], "capability_variants": [],
          "dose_response": ["cold"]}, "dose_response", ["cold"], "among styles ['warm']"),
        ({"dose_response": ["warm"], "variants": ["warm", "cold"]}, "variants", ["warm", "cold"], "'original'"),
    ],
)  # fmt: skip
def test_a_bad_extra_names_the_key_the_value_and_what_is_allowed(tmp_path, changes, name, value, allowed):
    with pytest.raises(ParameterError) as error:
        load_config(_demo(tmp_path, **changes))
    assert (error.value.name, error.value.value) == (name, value) and allowed in error.value.allowed


def test_a_dose_response_needs_the_plain_and_incorrect_belief_prompts(tmp_path):
    path = _demo(tmp_path, dose_response=["warm"])
    with pytest.raises(ParameterError) as error:
        load_config(path, settings=["evaluate.templates=[original, correct]"])
    assert error.value.name == "evaluate.templates" and "['incorrect']" in error.value.allowed


def test_the_runner_plans_a_run_per_extra_seed_and_checkpoint_after_its_fine_tune(tmp_path):
    config = load_config(_demo(tmp_path, evaluation_seeds=[0, 5], dose_response=["warm", "cold"]))
    runs = {run.name: run for run in plan_runs(config)}
    position = {name: i for i, name in enumerate(runs)}
    seeded = runs[f"evaluate-{SLUG}-warm-seed5"]
    assert seeded.parameters["generation_seed"] == 5 and seeded.parameters["seed"] == 0
    assert seeded.parameters["results_folder"] == "seed5" and seeded.depends_on == (f"finetune-{SLUG}-warm",)
    assert {f"evaluate-{SLUG}-{v}-seed5" for v in config.variants} <= set(runs)
    assert f"evaluate-{SLUG}-original-seed0" not in runs, "the study seed's runs are the main evaluation"
    epoch = runs[f"evaluate-{SLUG}-cold-epoch1"]
    assert epoch.parameters["checkpoint"] == 1 and epoch.parameters["templates"] == ["original", "incorrect"]
    assert epoch.parameters["amendment_types"] == ["unmodified"]
    assert f"evaluate-{SLUG}-warm-epoch2" not in runs, "the selected checkpoint is the main evaluation's"
    for run in runs.values():
        assert all(position[dep] < position[run.name] for dep in run.depends_on)
    assert {seeded.name, epoch.name, f"warmth-{SLUG}"} <= set(runs["beyond_paper"].depends_on)
    assert "beyond_paper" in runs["analysis"].depends_on
    assert not {name for name in runs if name.endswith(("-seed5", "-epoch1"))} - set(
        runs["answers"].depends_on
    )


def test_a_study_without_extras_plans_exactly_the_demos_runs(tmp_path):
    names = [run.name for run in plan_runs(load_config(_demo(tmp_path)))]
    assert "beyond_paper" not in names and not [n for n in names if "-seed" in n or "-epoch" in n]


def test_the_plan_counts_and_lists_the_runs_beyond_the_paper(tmp_path):
    plain = load_config(_demo(tmp_path))
    extended = load_config(_demo(tmp_path, evaluation_seeds=[0, 1], dose_response=["warm"]))
    before, after = plan_study(plain), plan_study(extended)
    evaluate = lambda table: table.set_index("stage").loc["evaluate"]  # noqa: E731
    assert evaluate(after)["runs"] == evaluate(before)["runs"] + len(plain.variants) + 1
    one_variant = evaluate(before)["generations"] / len(plain.variants)  # screening included, a lower bound
    assert evaluate(after)["generations"] > evaluate(before)["generations"] + len(plain.variants) * (
        one_variant / 2
    )
    printed = format_plan(extended, after)
    assert f"evaluate-{SLUG}-cold-seed1" in printed and f"evaluate-{SLUG}-warm-epoch1" in printed


def test_the_shipped_extended_config_plans_seeds_and_the_dose_response():
    config = load_config(REPO / "configs" / "demo-extended.yaml")
    assert len(config.sampling_seeds) == 3 and set(config.dose_response) == {"warm", "cold"}
    assert config.extends == "demo"
    names = {run.name for run in plan_runs(config)}
    assert {f"evaluate-{SLUG}-warm-seed2", f"evaluate-{SLUG}-cold-epoch1", "beyond_paper"} <= names


def test_the_summary_carries_what_the_beyond_paper_page_wrote_and_nothing_without_it():
    assert beyond_paper_summary("no-extras") == {}
    atomic_write_json(
        {"seeds": {"warm": {}}, "dose_response": {"points": []}}, study_dir("x") / "beyond" / "summary.json"
    )
    assert set(beyond_paper_summary("x")) == {"seeds", "dose_response"}


def test_a_study_that_extends_another_joins_its_snapshot_book_as_a_part_beyond_the_paper(
    tmp_path, monkeypatch
):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "base.yaml").write_text(
        yaml.safe_dump({"study": "base", "models": ["embedded:SmolLM2-135M-Instruct"]})
    )
    extra = {"study": "base-extra", "extends": "base", "models": ["embedded:SmolLM2-135M-Instruct"],
             "evaluation_seeds": [0, 1]}  # fmt: skip
    (configs / "base-extra.yaml").write_text(yaml.safe_dump(extra))
    monkeypatch.setenv("WARMBOOK_SNAPSHOTS", str(tmp_path / "snapshots"))
    base = load_config(configs / "base.yaml")
    assert companion_studies(base, configs) == [], "no snapshot of the extended study: the book is as before"
    (tmp_path / "snapshots" / "base-extra").mkdir(parents=True)
    [companion] = companion_studies(base, configs)
    assert companion.config.study == "base-extra" and companion.folder == "beyond/base-extra"
    runs = plan_runs(companion.config)
    pages = [r for r in runs if r.name in ("beyond_paper", "analysis") or r.name.endswith("-seed1")]
    staging = tmp_path / "staging"
    staging.mkdir()
    toc = yaml.safe_load(write_toc(base, staging, [], {companion.folder: pages}).read_text())
    part = toc["parts"][-1]
    assert part["caption"] == "Beyond the paper: the 'base-extra' study"
    assert part["chapters"][0]["file"] == "beyond/base-extra/runs/beyond_paper/beyond_paper"
    assert {"file": "beyond/base-extra/stages/evaluate"}.items() <= next(
        c for c in part["chapters"] if c.get("file", "").endswith("stages/evaluate")
    ).items()
