"""The documentation: a README a new user can read, links that lead somewhere, every
variable documented, and no work log in what users read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: what users and contributors read
DOCS = sorted([README, ROOT / "CONTRIBUTING.md", ROOT / "collector" / "README.md", *(ROOT / "docs").rglob("*.md")])
#: where the variables genai-tap reads are named
CODE_DIRS = ("src", "plugins", "collector")
CODE_SUFFIXES = {".py", ".toml", ".yaml", ".yml"}

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
VARIABLE = re.compile(r"\bGENAI_TAP_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")
WORK_LOG = re.compile(r"\bthis round\b|\bthe round before\b|\bthis stop\b|\bprevious stop\b|\bstop \d+\b|\bissue #?\d+",
                      re.I)


def prose(text: str) -> str:
    """The text without code blocks and HTML comments (whose brackets are not links)."""
    return COMMENT.sub("", FENCE.sub("", text))


def links(path: Path) -> List[str]:
    text = prose(path.read_text(encoding="utf-8"))
    # a link's text may be inline code; inline code elsewhere may hold brackets that are not links
    found = LINK.findall(text)
    return found + [m for m in LINK.findall(INLINE_CODE.sub("", text)) if m not in found]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    seen: Dict[str, int] = {}
    out = set()
    for _, title in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < 400, f"README.md has {lines} lines; move details to docs/ (the README stays under 400)"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(doc: Path) -> None:
    broken: List[Tuple[str, str]] = []
    checked = 0
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...
            continue
        checked += 1
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append((target, "no such file"))
        elif not dest.resolve().is_relative_to(ROOT):
            broken.append((target, "outside the repository"))
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append((target, f"no heading #{anchor} in {dest.relative_to(ROOT)}"))
    assert not broken, f"{doc.relative_to(ROOT)}: broken links: {broken}"
    if doc in (README, ROOT / "CONTRIBUTING.md"):
        assert checked > 5, "no links found: the link pattern no longer matches"


def test_the_link_checker_sees_broken_links(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A title, with `code`\n\n## Twice\n\n## Twice\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "See [`other`](other.md#a-title-with-code), [twice](other.md#twice-1) and [gone](missing.md).\n"
        "```\n[not a link](nowhere.md)\n```\n<!-- [nor this](nowhere.md) -->\n",
        encoding="utf-8",
    )
    assert links(doc) == ["other.md#a-title-with-code", "other.md#twice-1", "missing.md"]
    assert anchors(tmp_path / "other.md") == {"a-title-with-code", "twice", "twice-1"}


def variables_in_code() -> Dict[str, Path]:
    found: Dict[str, Path] = {}
    for top in CODE_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in CODE_SUFFIXES and path.is_file():
                for name in VARIABLE.findall(path.read_text(encoding="utf-8", errors="replace")):
                    found.setdefault(name, path.relative_to(ROOT))
    return found


def readme_configuration_table() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Configuration\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, "README.md has no '## Configuration' section"
    return "\n".join(line for line in match.group(1).splitlines() if line.startswith("|"))


def test_every_variable_is_in_the_readmes_configuration_table() -> None:
    found = variables_in_code()
    assert "GENAI_TAP_ENABLED" in found and "GENAI_TAP_SINKS" in found, "the variable scan found nothing"
    table = set(VARIABLE.findall(readme_configuration_table()))
    missing = {name: str(where) for name, where in found.items() if name not in table}
    assert not missing, f"variables read by the code but not in README.md's configuration table: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_work_log_in_the_documentation(doc: Path) -> None:
    hits = [m.group(0) for m in WORK_LOG.finditer(doc.read_text(encoding="utf-8"))]
    assert not hits, f"{doc.relative_to(ROOT)} reads like a work log ({hits}): describe the software as it is"
