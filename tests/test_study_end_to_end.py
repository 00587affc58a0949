"""End to end: the runner executes a tiny study with papermill, the book builds strictly, Chromium renders it.

A tiny random model stands in for the chat model so the whole pipeline — training data, warm and cold LoRA
fine-tunes, SocioT warmth, evaluation of the four variants, capabilities, analysis — runs in a few minutes on
a CPU. Its answers are gibberish; what is tested is that every stage runs and hands its outputs to the next,
that a second run skips everything, and that the rendered book shows the chapters and figures.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml
from browser import check_book, render_in_browser

from helpers.paths import study_dir
from helpers.study.book import build_book, companion_studies
from helpers.study.config import load_config
from helpers.study.runner import execute_study, plan_runs, run_status
from helpers.study.snapshot import stale_in_snapshot, take_snapshot

REPO = Path(__file__).resolve().parents[1]


def _tiny_study(model_dir: Path) -> dict:
    model = str(model_dir)
    return {
        "study": "tiny",
        "models": [model],
        "device": "cpu",
        "selected_checkpoint": 1,
        "training_data": {"n_conversations": 12, "n_validation": 6, "max_turns": 2, "rewriter": "rule"},
        "finetune": {
            "learning_rate": 1e-3, "epochs": 1, "checkpoints": [0.5, 1], "max_length": 128,
            "per_device_batch": 4, "grad_accum": 1,
        },
        "warmth": {"n_prompts": 6, "scorer_model": model, "n_passes": 1, "max_new_tokens": 8, "batch_size": 8},
        "evaluate": {"tasks": ["trivia", "disinfo"], "n_items": 1, "max_new_tokens": 8, "batch_size": 16},
        "capabilities": {"benchmarks": ["mmlu", "advbench"], "n_items": 2, "max_new_tokens": 8, "batch_size": 8},
    }  # fmt: skip


def _tiny_extended_study(model_dir: Path) -> dict:
    """Beyond the paper, as small as it goes: warm and candid styles, two sampling seeds, the dose-response of
    warm, and the ask template."""
    base = _tiny_study(model_dir)
    return base | {
        "study": "tiny-extended", "extends": "tiny", "styles": ["warm", "candid"],
        "variants": ["original", "warm", "candid"], "capability_variants": [], "evaluation_seeds": [0, 1],
        "dose_response": ["warm"], "evaluate": base["evaluate"] | {"templates": ["original", "incorrect", "ask"]},
    }  # fmt: skip


@pytest.mark.slow
def test_tiny_study_runs_end_to_end_and_builds_a_book(tiny_model_dir, tmp_path, monkeypatch):
    book = tmp_path / "book"
    shutil.copytree(REPO / "book", book, ignore=shutil.ignore_patterns("_build"))
    # Inside the results root, so the re-run boxes name it as $WARMBOOK_RESULTS/tiny.yaml, a path that runs here.
    config_path = Path(os.environ["WARMBOOK_RESULTS"]) / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(_tiny_study(tiny_model_dir)))
    config = load_config(config_path)

    outcome = execute_study(config)
    failed = {name: result for name, result in outcome.items() if result != "done"}
    assert not failed, f"runs not done: {failed}"
    assert len(outcome) == len(plan_runs(config))

    again = execute_study(load_config(config_path))
    assert set(again.values()) == {"skipped"}
    assert {status for _, status, _ in run_status(config)} == {"done"}

    index = build_book(config, sources=book)
    html = index.parent
    assert index.exists()
    assert sorted(p.name for p in book.iterdir() if p.name not in {"_build"}) == sorted(
        p.name for p in (REPO / "book").iterdir() if p.name != "_build"
    ), "the build leaves nothing generated in the book's source folder but _build"
    for page in ("question", "method", "results", "limitations", "teaching"):
        assert (html / f"{page}.html").exists()

    # The tiny model's folder is this study's model name, so pages print it; any other machine path is a defect.
    problems = [
        p
        for p in check_book(html)
        if not (p.kind == "machine path" and p.detail.startswith(str(tiny_model_dir)))
    ]
    assert not problems, "the built book has problems a reader would see:\n" + "\n".join(map(str, problems))

    results_dom = render_in_browser(html / "results.html")
    assert "this build beside the paper" in results_dom
    assert len(re.findall(r"<img[^>]+src=", results_dom)) >= 5, (
        "the results chapter should show its five figures"
    )

    evaluate_page = next(html.glob("runs/evaluate/evaluate-*-warm.html"))
    evaluate_dom = render_in_browser(evaluate_page)
    assert "Evaluation of tiny-model0: warm" in evaluate_dom and "Re-run this page" in evaluate_dom
    assert re.search(r"<img[^>]+src=", evaluate_dom), "the evaluation page should show its figure"

    paper_dom = render_in_browser(next(html.glob("runs/paper_results/*.html")))
    assert len(re.findall(r"<img[^>]+src=", paper_dom)) >= 5

    monkeypatch.setenv("WARMBOOK_SNAPSHOTS", str(tmp_path / "snapshots"))
    snapshot = take_snapshot(config)
    assert not list(snapshot.rglob("*.safetensors")), "a snapshot keeps no adapters"
    assert stale_in_snapshot(config) == []
    shutil.rmtree(book / "_build")
    index = build_book(config, sources=book, root=snapshot, config_path=str(config_path))
    assert "code version" in render_in_browser(index.parent / "intro.html")

    # A re-run box of the snapshot book works as printed: its variant runs as a new study, this one untouched.
    run = next(
        r for r in plan_runs(config) if r.stage == "evaluate" and r.parameters["variant"] == "original"
    )
    staged = nbformat.read(
        study_dir("tiny") / "book" / "runs" / "evaluate" / f"{run.name}.ipynb", as_version=4
    )
    commands = re.findall(r"```bash\n(.*?)\n```", staged.cells[1].source, re.S)
    assert "$WARMBOOK_SNAPSHOTS/tiny/runs/" in commands[1]  # the parameters file of this build
    variant = commands[2]
    assert "--study tiny-temperature-0 --set evaluate.temperature=0" in variant
    before = {p: p.read_bytes() for p in (study_dir("tiny") / tiny_model_dir.name).rglob("*.csv")}
    done = subprocess.run(
        ["bash", "-c", variant], cwd=REPO, capture_output=True, text=True, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert {status for r, status, _ in run_status(load_config(config_path, study="tiny-temperature-0", settings=["evaluate.temperature=0"]))
            if r.name == run.name} == {"done"}  # fmt: skip
    assert before == {p: p.read_bytes() for p in before}, "the variant must not touch the study's own results"

    # Beyond the paper: a study with two seeds and the dose-response runs end to end, writes its numbers into its
    # summary (the base study's has none), and its snapshot joins the base study's snapshot book as its own part.
    assert not {"seeds", "dose_response"} & set(
        json.loads((snapshot / "analysis" / "summary.json").read_text())
    )
    extended_path = config_path.with_name("tiny-extended.yaml")
    extended_path.write_text(yaml.safe_dump(_tiny_extended_study(tiny_model_dir)))
    extended = load_config(extended_path)
    outcome = execute_study(extended)
    assert {name for name, result in outcome.items() if result != "done"} == set()
    assert {"evaluate-tiny-model0-warm-seed1", "evaluate-tiny-model0-warm-epoch0.5", "beyond_paper"} <= set(
        outcome
    )
    summary = json.loads((study_dir("tiny-extended") / "analysis" / "summary.json").read_text())
    assert [s["seed"] for s in summary["seeds"]["warm"]["per_seed"]] == [0, 1]
    assert {p["epoch"] for p in summary["dose_response"]["points"]} == {0.0, 0.5, 1.0}
    assert {"p_value", "slope"} <= set(summary["dose_response"]["trends"][0])
    assert {"candid", "ask"} <= set(summary["mitigation"])
    assert {"error_gap", "belief_gap", "kept_warmth", "cut_cost"} <= set(summary["mitigation"]["candid"])
    assert (study_dir("tiny-extended") / "training_data" / "candid.jsonl").exists()
    take_snapshot(extended)
    companions = companion_studies(config, config_path.parent)
    assert [c.config.study for c in companions] == ["tiny-extended"]
    shutil.rmtree(book / "_build")
    index = build_book(
        config, sources=book, root=snapshot, config_path=str(config_path), companions=companions
    )
    problems = [
        p
        for p in check_book(index.parent)
        if not (p.kind == "machine path" and p.detail.startswith(str(tiny_model_dir)))
    ]
    assert not problems, "the joined book has problems a reader would see:\n" + "\n".join(map(str, problems))
    beyond_dom = render_in_browser(
        index.parent / "beyond" / "tiny-extended" / "runs" / "beyond_paper" / "beyond_paper.html"
    )
    assert "Beyond the paper" in beyond_dom and len(re.findall(r"<img[^>]+src=", beyond_dom)) >= 2
    assert "Beyond the paper: the 'tiny-extended' study" in render_in_browser(index)
