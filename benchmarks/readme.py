"""Write a benchmark's table into the documentation between its two markers (in the page of the
documentation site, `docs/`, that holds them)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_table(name: str, table: str) -> None:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    page = next(p for p in sorted((ROOT / "docs").rglob("*.md")) if start in p.read_text())
    text = page.read_text()
    head, rest = text.split(start)
    _, tail = rest.split(end)
    page.write_text(f"{head}{start}\n{table}{end}{tail}")
