"""Every relative link and image in the README, the changelog and docs/ resolves.

Docs move and files get renamed; a link that points nowhere is found here, by the same
`python -m pytest` that CI and the README run, not by a reader. A link to another page may
name a heading (`page.md#a-heading`); the heading must exist, as GitHub spells its anchor.
Links to the web (`https:`, `mailto:`) are not followed: no network in tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^(```|~~~)")
CODE_SPAN = re.compile(r"`+[^`]*`+")
# [text](target) and ![alt](target), the target up to a space (a title may follow) or ")"
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")  # [name]: target
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def doc_files(root: Path = ROOT) -> list[Path]:
    """The pages the check covers: README.md, CHANGELOG.md and docs/**/*.md."""
    found = [root / name for name in ("README.md", "CHANGELOG.md") if (root / name).is_file()]
    return found + sorted((root / "docs").rglob("*.md"))


def _prose_lines(text: str, code_spans: bool = False) -> list[str]:
    """The lines outside fenced code blocks; inline code spans blanked out unless kept
    (a heading's anchor keeps their text, a link inside one is no link)."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(line if code_spans else CODE_SPAN.sub("", line))
    return lines


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*_]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown page, the repeated ones numbered as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for line in _prose_lines(path.read_text(encoding="utf-8"), code_spans=True):
        match = HEADING.match(line)
        if not match:
            continue
        base = anchor(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The link and image targets of a Markdown page, in order."""
    targets = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        targets += LINK.findall(line)
        reference = REFERENCE.match(line)
        if reference:
            targets.append(reference.group(1))
    return targets


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """One line per link of `path` that does not resolve: a missing file or heading."""
    problems = []
    for target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        where = (path.parent / file_part).resolve() if file_part else path
        name = f"{path.relative_to(root)}: {target}"
        if root.resolve() not in where.parents and where != root.resolve():
            problems.append(f"{name} points outside the repository")
        elif not where.exists():
            problems.append(f"{name} points to a missing file")
        elif fragment and where.suffix == ".md" and fragment.lower() not in anchors(where):
            problems.append(f"{name} names no heading of {where.name}")
    return problems


def test_every_relative_link_and_image_in_the_docs_resolves() -> None:
    pages = doc_files()
    assert any(page.name == "README.md" for page in pages)
    problems = [problem for page in pages for problem in broken_links(page)]
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "docs" / "shots").mkdir(parents=True)
    (tmp_path / "docs" / "shots" / "a.png").write_bytes(b"png")
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Where files live\n\ntext\n")
    return tmp_path


def test_the_check_passes_good_links_and_ignores_code_and_the_web(site: Path) -> None:
    page = site / "README.md"
    page.write_text(
        "# Title\n\n![shot](docs/shots/a.png) [guide](docs/guide.md#where-files-live)\n"
        "[top](#title) [web](https://example.com/x.md) `[not a link](nowhere.md)`\n"
        "```\n[in code](nowhere.md)\n```\n[ref]: docs/guide.md\n"
    )
    assert broken_links(page, site) == []
    assert doc_files(site) == [page, site / "docs" / "guide.md"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("![shot](docs/shots/missing.png)", "missing file"),
        ("[guide](docs/gone.md)", "missing file"),
        ("[guide](docs/guide.md#no-such-heading)", "names no heading"),
        ("[here](#nowhere)", "names no heading"),
        ("[ref]: docs/old/page.md", "missing file"),
        ("[out](../../etc/passwd)", "outside the repository"),
    ],
)
def test_the_check_fails_on_a_broken_link(site: Path, text: str, why: str) -> None:
    page = site / "README.md"
    page.write_text(f"# Title\n\n{text}\n")
    problems = broken_links(page, site)
    assert len(problems) == 1 and why in problems[0], problems


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Notes\n## Notes\n## The `run` command: files!\n")
    assert anchors(page) == {"notes", "notes-1", "the-run-command-files"}
