"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, and a `#anchor` names a heading
(as GitHub writes heading anchors) or an explicit `<a id>` in that file. A reader who follows a link never lands on
nothing."""
import re
from pathlib import Path

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def github_anchor(heading: str) -> str:
    """GitHub's heading id: lower case, markup and punctuation dropped (hyphens and underscores kept), spaces to
    hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        base = github_anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    return found


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    return [a or b for a, b in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", a or b)]


def test_the_anchor_rule_matches_githubs():
    """Hand-checked against the anchors GitHub gives these headings."""
    assert github_anchor("Train on a real model (one GPU)") == "train-on-a-real-model-one-gpu"
    assert github_anchor("Preflight: `python main.py --check`") == "preflight-python-mainpy---check"
    assert github_anchor("Weights & Biases") == "weights--biases"
    assert github_anchor("The demo's system prompt") == "the-demos-system-prompt"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    broken = []
    for link in relative_links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        where = target.relative_to(REPO).as_posix() if target.is_relative_to(REPO) else str(target)
        if not target.exists():
            broken.append(f"{link}: no file {where}")
            continue
        if anchor and (target.suffix != ".md" or anchor not in anchors(target)):
            broken.append(f"{link}: no anchor #{anchor} in {where}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_readme_is_a_page_with_contents():
    """README stays short enough to read in ten minutes and opens with a table of contents that resolves."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    contents = readme[readme.index("## Contents"):].split("\n## ")[0]
    assert len(re.findall(r"\]\(#", contents)) >= 5
