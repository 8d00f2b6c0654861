"""What a newcomer reads first: ``planflow --help`` and each subcommand's help, and the
counts ``validate`` prints."""

from __future__ import annotations

import argparse

from planflow.cli import build_parser, counted


def subcommand_help(name: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name].format_help()


def test_help_texts_have_no_rst_markup():
    texts = [build_parser().format_help()] + [subcommand_help(name) for name in (
        "run", "validate", "status", "spec", "plan", "ship", "server", "clean", "land")]
    assert not [text for text in texts if "``" in text]


def test_run_help_names_every_argument_and_its_default():
    text = " ".join(subcommand_help("run").split())
    for words in ("plan the plan file", "--repo REPO the git repository the tasks work on (default: .)",
                  "(default: 2)", "agent timeout, seconds (default: 1800)", "--ephemeral"):
        assert words in text


def test_counts_are_singular_for_one():
    assert [counted(n, "error") for n in (0, 1, 2)] == ["0 errors", "1 error", "2 errors"]
