"""Files survive kills and damage is named: torn JSONL lines, bad lines, garbage CSVs, names that escape results/.

Issue 11: a half-written JSONL line used to be glued to the next record (that record was then lost on every
resume), bad lines were skipped silently, a garbage results CSV flowed into the analysis, and ``study: ".."``
wrote outside ``results/``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from helpers.cli import main
from helpers.generation import GenerationSettings, generate_responses
from helpers.models import load_model
from helpers.paths import model_slug, results_root, study_dir
from helpers.storage import (
    CorruptFileError,
    TornLineWarning,
    append_jsonl,
    atomic_write_csv,
    read_jsonl,
    read_results_csv,
)
from helpers.validation import ParameterError, check_name

PROMPTS = [f"Question {i}: what is {i} times three?" for i in range(7)]
SETTINGS = GenerationSettings(temperature=0.8, max_new_tokens=6, batch_size=3, seed=1)

# ------------------------------------------------------------------------------------------------- JSONL


def test_an_append_after_a_torn_line_starts_on_its_own_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    append_jsonl(path, [{"key": "a"}])
    with path.open("a") as handle:
        handle.write('{"key": "b", "outp')  # a kill in the middle of a write
    with pytest.warns(TornLineWarning):
        append_jsonl(path, [{"key": "c"}])
    assert path.read_text() == '{"key": "a"}\n{"key": "c"}\n'
    assert [r["key"] for r in read_jsonl(path)] == ["a", "c"]


def test_a_whole_last_record_missing_only_its_newline_is_kept(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a"}\n{"key": "b"}')
    append_jsonl(path, [{"key": "c"}])
    assert [r["key"] for r in read_jsonl(path)] == ["a", "b", "c"]


def test_a_write_cut_inside_a_multibyte_character_is_a_torn_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    append_jsonl(path, [{"key": "a", "output": "café"}])
    path.write_bytes(path.read_bytes() + '{"key": "b", "output": "caf\u00e9'.encode()[:-1])
    with pytest.warns(TornLineWarning, match="torn"):
        assert [r["key"] for r in read_jsonl(path)] == ["a"]


def test_a_bad_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a"}\n{"key": "b", "outp\n{"key": "c"}\n')
    with pytest.raises(CorruptFileError, match=r"cache\.jsonl, line 2"):
        list(read_jsonl(path))
    path.write_text('{"key": "a"}\n[1, 2]\n')
    with pytest.raises(CorruptFileError, match="line 2"):
        list(read_jsonl(path))


def test_a_torn_cache_line_is_regenerated_and_answers_equal_an_uninterrupted_run(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    clean = generate_responses(model, tokenizer, PROMPTS, SETTINGS, "tiny", tmp_path / "clean.jsonl")
    cache = tmp_path / "torn.jsonl"
    lines = (tmp_path / "clean.jsonl").read_text().splitlines(keepends=True)
    torn_key = json.loads(lines[4])["key"]
    cache.write_text("".join(lines[:4]) + lines[4][: len(lines[4]) // 2])  # killed inside the 5th record
    with pytest.warns(TornLineWarning):
        resumed = generate_responses(model, tokenizer, PROMPTS, SETTINGS, "tiny", cache)
    assert resumed == clean
    keys = [r["key"] for r in read_jsonl(cache)]
    assert sorted(keys) == sorted({r["key"] for r in read_jsonl(tmp_path / "clean.jsonl")})
    assert len(keys) == len(set(keys)) == len(PROMPTS) and keys[4:].count(torn_key) == 1


# --------------------------------------------------------------------------------------------- results CSV

COLUMNS = {"variant": "str", "epoch": "float", "n": "int", "refusal": "bool"}


def _table(tmp_path) -> pd.DataFrame:
    frame = pd.DataFrame({"variant": ["warm", "cold"], "epoch": [0.5, 2.0], "n": [3, 4], "refusal": [0, 1]})
    atomic_write_csv(frame, tmp_path / "table.csv")
    return frame


def test_a_valid_results_table_reads_as_pandas_reads_it(tmp_path):
    frame = _table(tmp_path)
    pd.testing.assert_frame_equal(read_results_csv(tmp_path / "table.csv", COLUMNS, expected_rows=2), frame)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xff\xfe garbage \x89PNG\r\n", "table.csv"),
        (b"", "not a readable CSV"),
        (b"variant,epoch\nwarm,0.5\n", r"missing column\(s\) \['n', 'refusal'\]"),
        (b"variant,epoch,n,refusal\nwarm,0.5,three,0\n", "column 'n' must hold int values"),
        (b"variant,epoch,n,refusal\nwarm,half,3,0\n", "column 'epoch' must hold float values"),
        (b"variant,epoch,n,refusal\nwarm,0.5,3,maybe\n", "column 'refusal' must hold bool values"),
    ],
)
def test_a_damaged_results_table_is_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "table.csv"
    path.write_bytes(content)
    with pytest.raises(CorruptFileError, match=message) as error:
        read_results_csv(path, COLUMNS)
    assert str(path) in str(error.value)


def test_a_table_with_rows_missing_is_refused(tmp_path):
    _table(tmp_path)
    with pytest.raises(CorruptFileError, match="2 rows, expected 4"):
        read_results_csv(tmp_path / "table.csv", COLUMNS, expected_rows=4)


def test_the_analysis_refuses_a_garbage_evaluation_csv(tmp_path):
    from helpers.analysis.study_results import load_study_results

    folder = study_dir("damaged") / "tiny" / "original"
    folder.mkdir(parents=True)
    (folder / "trivia.csv").write_text("<html>502 Bad Gateway</html>\n")
    with pytest.raises(CorruptFileError, match=r"trivia\.csv: missing column"):
        load_study_results("damaged")


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize("study", ["..", "../x", "a/b", ".", "", "/tmp/x", "a\\b", None])
def test_a_study_name_that_leaves_results_is_refused(study):
    with pytest.raises(ParameterError) as error:
        study_dir(study)
    assert error.value.name == "study"


def test_plain_names_stay_inside_results():
    assert study_dir("demo-1.0_x") == results_root() / "demo-1.0_x"
    assert check_name("run", "evaluate__tiny__warm") == "evaluate__tiny__warm"
    with pytest.raises(ParameterError) as error:
        check_name("run", "../evaluate")
    assert error.value.name == "run"


@pytest.mark.parametrize(
    "model", ["meta-llama/Llama-3.1-8B-Instruct", "gpt2", "embedded:SmolLM2-135M-Instruct"]
)
def test_hub_ids_and_the_embedded_model_are_valid_model_names(model):
    assert check_name("model", model) == model


@pytest.mark.parametrize(
    "model", ["../../no-such-model", "a/b/c", "org/..", "../nope", "org/name with space"]
)
def test_model_names_with_path_tricks_are_refused(model):
    with pytest.raises(ParameterError) as error:
        check_name("model", model)
    assert error.value.name == "model"


def test_an_existing_local_folder_is_a_model_name_and_its_slug_is_one_plain_folder(tiny_model_dir):
    assert check_name("model", str(tiny_model_dir)) == str(tiny_model_dir)
    assert model_slug(str(tiny_model_dir / "..")) == tiny_model_dir.parent.name
    with pytest.raises(ParameterError) as error:
        model_slug("/")
    assert error.value.name == "model"


# ---------------------------------------------------------------------------------------- command line


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "helpers", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("study: demo\nmodels: [a\n  b: c\n", "line 3, column 4"),
        ('study: ".."\n', "'study'"),
        (None, "existing YAML study config"),
    ],
)
def test_the_command_line_refuses_bad_input_in_one_line_without_a_traceback(tmp_path, content, expected):
    config = tmp_path / "bad.yaml"
    if content is not None:
        config.write_text(content)
    result = _cli("status", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr and "bad.yaml" in result.stderr


def test_a_raw_yaml_error_names_the_config_line_and_column(monkeypatch, tmp_path, capsys):
    import yaml

    import helpers.study.config

    def broken(path):
        return yaml.safe_load("study: demo\nmodels: [a\n  b: c\n")

    monkeypatch.setattr(helpers.study.config, "load_config", broken)
    assert main(["status", str(tmp_path / "study.yaml")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "study.yaml, line 3, column 4: invalid YAML" in error


def test_an_answer_with_a_carriage_return_reads_back_as_one_row(tmp_path):
    frame = pd.DataFrame({"output": ["first line\rsecond", "plain"], "refusal": [0, 1]})
    path = atomic_write_csv(frame, tmp_path / "rows.csv")
    assert pd.read_csv(path, keep_default_na=False).equals(frame)
