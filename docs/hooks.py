"""MkDocs hooks: the pages that hold what the code already says are filled from the code at
build time, so it is written once (mkdocs.yml `hooks:`).

- `<!-- schema-table -->`: every results column with its type and meaning, from
  `bench.results.SCHEMA` and `COLUMN_DOCS`;
- `<!-- bench-usage -->`: `bench`'s usage text, from `bench.cli.USAGE`;
- `<!-- make-targets -->`: every Makefile target that carries a `##` comment.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def schema_table() -> str:
    from bench.results import SCHEMA, documented_columns

    rows = ["| columns | type | meaning |", "|---|---|---|"]
    for columns, meaning in documented_columns():
        names = ", ".join(f"`{c}`" for c in columns)
        types = ", ".join(sorted({SCHEMA[c] for c in columns}))
        rows.append(f"| {names} | {types} | {meaning} |")
    return "\n".join(rows)


def bench_usage() -> str:
    from bench.cli import USAGE

    return f"```\n{USAGE.strip()}\n```"


def make_targets() -> str:
    """`## comment` lines followed by `target:` in the Makefile, as a table."""
    rows = ["| target | what it does |", "|---|---|"]
    comment: list[str] = []
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("## "):
            comment.append(line[3:].strip())
            continue
        match = re.match(r"^([a-z][a-z-]*):", line)
        if match and comment:
            rows.append(f"| `make {match.group(1)}` | {' '.join(comment).replace('|', '/')} |")
        if not line.startswith("#"):
            comment = []
    return "\n".join(rows)


FILLERS = {
    "<!-- schema-table -->": schema_table,
    "<!-- bench-usage -->": bench_usage,
    "<!-- make-targets -->": make_targets,
}


def on_page_markdown(markdown: str, **_: object) -> str:
    for marker, fill in FILLERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, fill())
    return markdown
