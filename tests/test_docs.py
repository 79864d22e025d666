"""The manual holds together: a short README, a site that builds with --strict, and no
reference anywhere in the project to a page or section that does not exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")
# `README "Two commands"`, `docs/gate.md "The gate in CI"`, also across a comment's line break
REFERENCE = re.compile(r'(README(?:\.md)?|docs/[\w-]+\.md)(?:\s|#)*"([^"\n]+)"')
SOURCES = [
    "bench",
    "conf",
    "tests",
    "hydra_plugins",
    "docs",
    ".ci/run",
    "Makefile",
    "pyproject.toml",
    "README.md",
]


def slug(heading: str) -> str:
    """The anchor Python-Markdown's toc gives a heading (MkDocs' default)."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def headings(path: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in path.read_text().splitlines() if re.match(r"#{1,6} ", line)]


def bold_leads(path: Path) -> list[str]:
    """Paragraphs and bullets that open with a bold title: `**Cheaper blocks: ...**`."""
    leads = re.findall(r"^(?:- )?\*\*(.+?)\*\*", path.read_text(), flags=re.MULTILINE)
    return [lead.replace("`", "") for lead in leads]


def test_the_readme_fits_on_a_few_screens():
    assert len((ROOT / "README.md").read_text().splitlines()) < 250


def test_every_link_in_the_readme_reaches_a_file_and_its_heading():
    broken = []
    for target in LINK.findall((ROOT / "README.md").read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        if not (ROOT / path).exists() or anchor and anchor not in {slug(h) for h in headings(ROOT / path)}:
            broken.append(target)
    assert broken == []


def test_every_named_section_in_code_comments_and_docs_exists():
    """`docs/why.md "Retraces"` in a comment must name a heading or a bold lead of that page."""
    files = [p for name in SOURCES for p in ([ROOT / name] if (ROOT / name).is_file() else (ROOT / name).rglob("*")) if p.is_file() and p.suffix in ("", ".py", ".yaml", ".md", ".toml")]  # fmt: skip
    checked, missing = 0, []
    for path in files:
        if path.name == Path(__file__).name:  # this file's own patterns and examples
            continue
        for page, section in REFERENCE.findall(path.read_text(errors="replace")):
            page = "README.md" if page.startswith("README") else page
            target = ROOT / page
            names = (
                [h.replace("`", "") for h in headings(target)] + bold_leads(target) if target.exists() else []
            )
            checked += 1
            if not any(name.startswith(section) for name in names):
                missing.append(f'{path.relative_to(ROOT)}: {page} "{section}"')
    assert checked >= 15  # the references are found at all
    assert missing == []


def test_the_scanner_would_catch_a_dangling_reference(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n**A lead.** text\n")
    assert [h for h in headings(page)] == ["Title"] and bold_leads(page) == ["A lead."]
    assert REFERENCE.findall('see docs/gate.md\n# "The gate in CI" here') == [
        ("docs/gate.md", "The gate in CI")
    ]


def test_the_site_builds_strict(tmp_path):
    """What `make docs` and .ci/run do: a broken link, page or heading fails the build."""
    pytest.importorskip("mkdocs")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    schema = (tmp_path / "site" / "results" / "index.html").read_text()
    assert "hardware_tf32" in schema and "step_ms_median" in schema  # the table generated from the code


def test_every_project_path_the_manual_names_exists():
    """`bench/decide/stats.py`, `conf/cell/`, `tests/test_calibration.py`: a file moved or renamed
    without its mention in README or docs fails here."""
    pattern = re.compile(r"\b((?:bench|tests|conf|hydra_plugins|docs)/[A-Za-z0-9_./-]*[A-Za-z0-9_/])")
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    named = {match for page in pages for match in pattern.findall(page.read_text())}
    assert len(named) > 40  # the manual names its code at all
    assert sorted(p for p in named if not (ROOT / p).exists()) == []
