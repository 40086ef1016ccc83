"""Write a benchmark's table into the README between its two markers."""

from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def write_table(name: str, table: str) -> None:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = README.read_text()
    head, rest = text.split(start)
    _, tail = rest.split(end)
    README.write_text(f"{head}{start}\n{table}{end}{tail}")
