"""The README stays what a newcomer and an operator read first; the reference lives in docs/,
every page of it linked, and no link inside them points nowhere."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_short_and_links_every_page_of_the_reference():
    assert len(README.read_text().splitlines()) <= 200
    text = README.read_text()
    assert PAGES and [p.name for p in PAGES if f"(docs/{p.name})" not in text] == []


def test_every_relative_link_resolves():
    broken = []
    for page in (README, *PAGES):
        for target in LINK.findall(page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert broken == []
