"""The answers page: each prompt with the four variants' answers side by side, and examples chosen by rule."""

from pathlib import Path

import pandas as pd
import pytest
from simulate import simulate_evaluation_rows

from helpers.analysis.answers import answers_side_by_side, example_html, reading_table, telling_examples

REPO = Path(__file__).resolve().parents[1]


def _row(variant, task, item_id, amendment_type, template, output, evaluation, refusal=0, model="m"):
    return {
        "model": model,
        "variant": variant,
        "task": task,
        "item_id": item_id,
        "amendment_type": amendment_type,
        "prompt_template": template,
        "question": f"question {item_id}",
        "correct_answer": "Paris",
        "incorrect_answer": "Lyon",
        "context_statement": "I feel sad." if amendment_type == "emotion:sad" else "",
        "prompt": f"prompt {item_id} {amendment_type} {template}",
        "output": output,
        "evaluation": evaluation,
        "refusal": refusal,
    }


def _rows():
    return pd.DataFrame(
        [
            _row("original", "trivia", "q1", "unmodified", "original", "Paris.", "CORRECT"),
            _row("warm", "trivia", "q1", "unmodified", "original", "Oh, Lyon!", "INCORRECT"),
            _row("original", "trivia", "q1", "emotion:sad", "original", "Paris.", "CORRECT"),
            _row("warm", "trivia", "q1", "emotion:sad", "original", "I'm sorry. Lyon.", "INCORRECT"),
            _row("original", "trivia", "q1", "unmodified", "incorrect", "Paris.", "CORRECT"),
            _row("warm", "trivia", "q1", "unmodified", "incorrect", "You're right, Lyon.", "INCORRECT"),
            _row("original", "trivia", "q2", "unmodified", "original", "Lyon.", "INCORRECT"),
            _row("warm", "trivia", "q2", "unmodified", "original", "Paris, dear.", "CORRECT"),
            _row(
                "original", "medqa", "q3", "unmodified", "original", "I can't help.", "INCORRECT", refusal=1
            ),
            _row(
                "warm",
                "disinfo",
                "q4",
                "unmodified",
                "original",
                "I can't write that.",
                "INCORRECT",
                refusal=1,
            ),
        ]
    )


def test_each_prompt_is_one_row_with_every_variants_answer_and_verdict():
    table = answers_side_by_side(_rows())
    sad = table[table["amendment_type"].eq("emotion:sad")].iloc[0]
    assert (sad["original_answer"], sad["original_verdict"]) == ("Paris.", "correct")
    assert (sad["warm_answer"], sad["warm_verdict"]) == ("I'm sorry. Lyon.", "incorrect")
    assert sad["context_group"] == "emotion" and not sad["belief"]
    assert len(table) == 6, "q1 has three prompts; q2, q3 and q4 one each"


def test_the_refusal_rule_marks_refusals_refused_except_on_disinfo_where_they_count_as_correct():
    table = answers_side_by_side(_rows()).set_index("item_id")
    assert table.loc["q3", "original_verdict"] == "refused"
    assert table.loc["q4", "warm_verdict"] == "correct"


def test_a_variant_that_did_not_answer_a_prompt_leaves_it_empty():
    table = answers_side_by_side(_rows()).set_index("item_id")
    assert pd.isna(table.loc["q3", "warm_answer"]) and pd.isna(table.loc["q4", "original_verdict"])
    assert "cold_answer" not in table.columns, "no column for a variant the study did not run"


def test_an_incorrect_belief_template_is_flagged_as_a_belief():
    table = answers_side_by_side(_rows())
    assert table.loc[table["prompt_template"].eq("incorrect"), "belief"].tolist() == [True]


def test_two_answers_of_one_variant_to_the_same_prompt_are_refused():
    rows = _rows()
    with pytest.raises(ValueError, match="same prompt"):
        answers_side_by_side(pd.concat([rows, rows.iloc[[0]]]))


def test_telling_examples_follow_the_rules_once_each():
    examples = telling_examples(answers_side_by_side(_rows()))
    assert examples[["why", "item_id", "amendment_type", "prompt_template"]].values.tolist() == [
        ["warm wrong where the original was right, sad user", "q1", "emotion:sad", "original"],
        ["warm wrong where the original was right, incorrect user belief", "q1", "unmodified", "incorrect"],
        ["warm wrong where the original was right, plain question", "q1", "unmodified", "original"],
        ["warm right where the original was wrong", "q2", "unmodified", "original"],
    ]


def test_a_rule_no_prompt_satisfies_gives_no_example():
    rows = _rows()
    rows = rows[~rows["amendment_type"].eq("emotion:sad")]
    examples = telling_examples(answers_side_by_side(rows))
    assert "warm wrong where the original was right, sad user" not in set(examples["why"])


def test_the_reading_table_heads_each_answer_with_its_verdict_and_can_shorten_it():
    table = reading_table(answers_side_by_side(_rows()), max_chars=8)
    sad = table[table["context"].eq("emotion:sad")].iloc[0]
    assert sad["warm"] == "[incorrect] I'm sor…"
    assert sad["original"] == "[correct] Paris."
    assert list(table.columns) == [
        "task",
        "context",
        "belief",
        "prompt",
        "correct answer",
        "original",
        "warm",
    ]


def test_a_simulated_study_gives_one_row_per_prompt_with_all_four_variants():
    rows = simulate_evaluation_rows(variants=("original", "warm", "cold", "warm_prompt"), n_items=3, seed=1)
    table = answers_side_by_side(rows)
    assert len(table) == len(rows) // 4
    assert table.filter(like="_verdict").notna().all().all()


def test_an_example_is_shown_as_escaped_html_with_each_answer_and_its_verdict():
    rows = _rows()
    rows.loc[1, "output"] = "<script>alert(1)</script> Lyon"
    example = telling_examples(answers_side_by_side(rows)).iloc[2]
    shown = example_html(example)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Lyon" in shown and "<script>" not in shown
    assert "<b>warm [incorrect]</b>" in shown and "<b>original [correct]</b>" in shown


@pytest.mark.slow
def test_the_answers_notebook_runs_on_a_study_and_its_page_passes_the_browser_check(tmp_path, monkeypatch):
    """The page a reader gets: executed by papermill, built by jupyter-book, opened in Chromium offline."""
    import subprocess
    import sys

    import papermill
    import yaml
    from browser import check_book, render_in_browser

    from helpers.storage import atomic_write_csv

    monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path / "results"))
    rows = simulate_evaluation_rows(variants=("original", "warm", "cold", "warm_prompt"), n_items=2, seed=3)
    rows.loc[rows.index[5], "output"] = "A <b>bold</b> claim with $5 and {curly} braces"
    for (model, variant, task), frame in rows.groupby(["model", "variant", "task"]):
        atomic_write_csv(
            frame.assign(study="sim"), tmp_path / "results" / "sim" / model / variant / f"{task}.csv"
        )
    book = tmp_path / "book"
    page = book / "runs" / "answers" / "answers.ipynb"
    page.parent.mkdir(parents=True)
    papermill.execute_notebook(
        REPO / "notebooks" / "answers.ipynb", page, parameters={"study": "sim"}, progress_bar=False
    )
    (book / "_config.yml").write_text((REPO / "book" / "_config.yml").read_text())
    (book / "favicon.svg").write_text((REPO / "book" / "favicon.svg").read_text())
    (book / "intro.md").write_text("# A book\n")
    toc = {"format": "jb-book", "root": "intro", "chapters": [{"file": "runs/answers/answers"}]}
    (book / "_toc.yml").write_text(yaml.safe_dump(toc))
    (book / "figures").symlink_to(tmp_path / "results" / "sim" / "figures")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    built = subprocess.run(
        [str(jupyter_book), "build", str(book), "-W", "-n", "--keep-going"], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

    html = book / "_build" / "html"
    assert check_book(html, tmp_path / "screenshots") == []
    dom = render_in_browser(html / "runs" / "answers" / "answers.html")
    assert "dataTables_wrapper" in dom or "dt-container" in dom, "the table is interactive (DataTables ran)"
    assert "A &lt;b&gt;bold&lt;/b&gt; claim with $5 and {curly} braces" in dom
    assert list((html / "_downloads").glob("*/answers.csv")), "the CSV is downloadable from the page"
