"""mkdocs hook: ``<!-- alpha-refine-help: COMMAND -->`` in a page becomes that command's ``--help``.

docs/cli.md uses it so the CLI reference always shows the options of the installed
``alpha-refine`` (``alpha-refine`` itself for the top-level help). An unknown command fails the
build.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

MARKER = re.compile(r"<!-- alpha-refine-help: ([\w-]+) -->")
WIDTH = "100"


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """``alpha-refine`` and each subcommand's parser, by name."""
    from alpha_refine.cli import build_parser

    parser = build_parser()
    parsers = {"alpha-refine": parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers.update(action.choices)
    return parsers


def help_block(command: str, parsers: dict[str, argparse.ArgumentParser]) -> str:
    """The ``--help`` text of ``command`` as a fenced block, wrapped at 100 columns."""
    if command not in parsers:
        raise ValueError(f"docs: unknown alpha-refine command {command!r} in a help marker")
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps at the terminal width it reads from here
    try:
        text = parsers[command].format_help()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return f"```text\n{text.rstrip()}\n```"


def expand(markdown: str) -> str:
    """``markdown`` with every help marker replaced."""
    if not MARKER.search(markdown):
        return markdown
    parsers = command_parsers()
    return MARKER.sub(lambda match: help_block(match.group(1), parsers), markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return expand(markdown)
