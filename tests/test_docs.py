"""The documentation stays in step with the code: CLI reference, nav, README picture."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_help", DOCS / "hooks" / "cli_help.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_shows_every_command_and_option() -> None:
    hook = _hook()
    parsers: dict[str, argparse.ArgumentParser] = hook.command_parsers()
    source = (DOCS / "cli.md").read_text()
    markers = set(hook.MARKER.findall(source))
    assert markers == set(parsers), "docs/cli.md needs one help marker per command"
    for command in parsers:
        if command != "alpha-refine":
            assert f"\n## {command}\n" in source, f"docs/cli.md has no section for {command}"
    page = hook.expand(source)
    assert not hook.MARKER.search(page)
    for command, parser in parsers.items():
        assert f"usage: {parser.prog}" in page
        for action in parser._actions:
            for option in action.option_strings:
                assert option in page, f"{command} {option} is missing from docs/cli.md"


def test_every_docs_page_is_in_the_nav() -> None:
    in_nav = set(
        re.findall(r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    )
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "hooks" not in p.parts}
    assert pages - in_nav == set(), "pages missing from the mkdocs.yml nav"
    assert in_nav - pages == set(), "nav entries without a page"


def test_readme_shows_a_refined_track_and_links_the_integration_guides() -> None:
    readme = (ROOT / "README.md").read_text()
    picture = DOCS / "assets" / "refined-track.jpg"
    assert "docs/assets/refined-track.jpg" in readme
    assert picture.stat().st_size < 1_000_000
    assert picture.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    for guide in ("opencv", "pysot", "pytracking", "got10k", "vot"):
        assert f"docs/integrations/{guide}.md" in readme
        assert (DOCS / "integrations" / f"{guide}.md").is_file()
