"""The command line reports a book that does not build as one line naming the log, never as a traceback."""

import subprocess
from pathlib import Path

import pytest

import helpers.study.book
import helpers.study.config
from helpers.cli import main
from helpers.study.book import BookBuildError, build_book

SPHINX_OUTPUT = (
    "Running Sphinx v7.4.7\n"
    "/results/demo/book/results.md:12: WARNING: undefined label: 'fig-warmth'\n"
    "/results/demo/book/limitations.md:3: WARNING: unknown document: 'nowhere'\n"
    "build finished with problems, 2 warnings.\n"
)


def _failed_build(monkeypatch, tmp_path: Path) -> None:
    """jupyter-book fails as in a strict build with broken references (no real build: it takes minutes)."""
    monkeypatch.setattr(
        helpers.study.book, "assemble_book", lambda config, sources, root, config_path, *rest: tmp_path / "staging"
    )

    def run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, SPHINX_OUTPUT, "RuntimeError: Sphinx build failed\n")

    monkeypatch.setattr(helpers.study.book.subprocess, "run", run)


def test_a_failed_build_raises_a_book_build_error_and_keeps_the_whole_output(monkeypatch, tmp_path):
    _failed_build(monkeypatch, tmp_path)
    sources = tmp_path / "book"
    with pytest.raises(BookBuildError) as caught:
        build_book(None, sources=sources)
    error = caught.value
    assert isinstance(error, RuntimeError) and error.returncode == 1
    assert error.log == sources / "_build" / "build.log"
    assert SPHINX_OUTPUT in error.log.read_text() and "Sphinx build failed" in error.log.read_text()
    assert "\n" not in error.summary
    assert "undefined label: 'fig-warmth'" in error.summary and "2 Sphinx warnings or errors" in error.summary
    assert str(error.log) in error.summary
    assert str(error).startswith(error.summary + "\n") and "unknown document" in str(error), (
        "the exception itself still carries the output's tail, for tests that call build_book"
    )


def test_without_sphinx_warnings_the_line_names_the_exception_that_ended_the_build(tmp_path):
    output = "Running Sphinx v7.4.7\nTraceback (most recent call last):\n  ...\nOSError: [Errno 28] No space left\n"
    error = BookBuildError(1, output, "", tmp_path / "build.log")
    assert error.summary == (
        f"jupyter-book build failed (exit status 1: OSError: [Errno 28] No space left); "
        f"its full output is in {tmp_path / 'build.log'}"
    )


def test_build_book_reports_a_failed_build_as_one_line_with_exit_status_2(monkeypatch, tmp_path, capsys):
    _failed_build(monkeypatch, tmp_path)
    monkeypatch.setattr(helpers.study.config, "load_config", lambda path, **overrides: None)
    monkeypatch.setattr(helpers.study.book, "default_book_dir", lambda: tmp_path / "book")
    assert main(["build-book", str(tmp_path / "study.yaml")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("python -m helpers: error: jupyter-book build failed (exit status 1")
    assert str(tmp_path / "book" / "_build" / "build.log") in captured.err


def test_any_other_error_of_the_build_is_a_bug_and_keeps_its_traceback(monkeypatch, tmp_path):
    def broken(config, root=None, config_path=None, **_):
        raise RuntimeError("a bug in the book builder")

    monkeypatch.setattr(helpers.study.config, "load_config", lambda path, **overrides: None)
    monkeypatch.setattr(helpers.study.book, "build_book", broken)
    with pytest.raises(RuntimeError, match="a bug in the book builder"):
        main(["build-book", str(tmp_path / "study.yaml")])


def test_the_module_docstring_lists_every_subcommand():
    import argparse

    import helpers.cli

    parser = helpers.cli.build_parser()
    [sub] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    assert sub.choices and all(f"python -m helpers {name}" in helpers.cli.__doc__ for name in sub.choices)


def test_serve_passes_model_host_and_port_to_the_server(monkeypatch):
    import helpers.serve

    calls = []
    monkeypatch.setattr(
        helpers.serve, "serve", lambda model, host, port, device: calls.append((model, host, port, device))
    )
    assert main(["serve", "--model", "some/model", "--port", "8123"]) == 0
    assert calls == [("some/model", "127.0.0.1", 8123, "auto")]
