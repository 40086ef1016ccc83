"""Size and opening time of the web page (`derive html`), from the reference network to 64-64-64.

Each page is written by `derive html` (its writing time is measured too, in a fresh process), then
opened in headless Chromium (Debian's, driven by Selenium, as the tests do) several times: the figure
is the median time from the request to the page's script having run (the page marks
``data-ready``), and its ``load`` event, from the browser's navigation timing. Writes the table into
the documentation (docs/) between the bench markers.

    python benchmarks/bench_page.py [--repeats 5] [--no-readme]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme import write_table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
SIZES = [[4, 16, 16, 3], [16, 16, 16], [64, 64, 64]]
TARGETS = {"2-2-2": (1.0, None), "64-64-64": (5.0, 2.0)}  # MB, seconds to open


def spec_text(layers) -> str:
    name = "n" + "_".join(map(str, layers))
    inputs = ", ".join(f"{(k % 10) / 10}" for k in range(layers[0]))
    targets = ", ".join(f"{(k % 9 + 1) / 10}" for k in range(layers[-1]))
    return (f'name = "{name}"\nlayers = {layers}\nactivation = "logistic"\nloss = "half_sse"\nbias = "per_neuron"\n'
            f"learning_rate = 0.1\nseed = 1\n\n[[samples]]\ninputs = [{inputs}]\ntargets = [{targets}]\n")


def main(argv=None):
    from browser import start

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pages = {"2-2-2": (10, None, Path(tmp) / "mazur.html")}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "derive", "html", "-o", str(pages["2-2-2"][2])], check=True,
                       capture_output=True)
        pages["2-2-2"] = (10, time.perf_counter() - started, pages["2-2-2"][2])
        for layers in SIZES:
            label = "-".join(map(str, layers))
            spec = Path(tmp) / f"{label}.toml"
            spec.write_text(spec_text(layers))
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "derive", "html", str(spec), "-o", str(Path(tmp) / f"{label}.html")],
                           check=True, capture_output=True)
            import derive

            parameters = len(derive.Model(derive.load_spec(spec)).parameters)
            pages[label] = (parameters, time.perf_counter() - started, Path(tmp) / f"{label}.html")
        driver = start()
        try:
            for label, (parameters, written, path) in pages.items():
                ready, load = [], []
                for _ in range(args.repeats):
                    driver.get("about:blank")
                    begin = time.perf_counter()
                    driver.get(path.as_uri())
                    assert driver.execute_script("return document.body.dataset.ready") == "true"
                    ready.append(time.perf_counter() - begin)
                    load.append(driver.execute_script(
                        "return performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000)
                size = path.stat().st_size / 1e6
                rows.append((label, parameters, written, size, statistics.median(ready), statistics.median(load)))
        finally:
            driver.quit()
    lines = [
        f"Measured by `python benchmarks/bench_page.py` (headless Chromium, median of {args.repeats} openings; "
        "\"ready\" is from the request until the page's script has run, \"load\" the browser's load event; "
        "\"write\" is `derive html` in a fresh process):",
        "",
        "| network | parameters | write s | page MB | ready s | load s | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, parameters, written, size, ready, load in rows:
        target = TARGETS.get(label)
        verdict = ""
        if target:
            mb, seconds = target
            verdict = f"≤ {mb:g} MB: {'met' if size <= mb else 'MISSED'}"
            if seconds:
                verdict += f"; < {seconds:g} s: {'met' if ready < seconds else 'MISSED'}"
        lines.append(f"| {label} | {parameters} | {written:.1f} | {size:.2f} | {ready:.2f} | {load:.2f} | {verdict} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_readme:
        write_table("page", table)


if __name__ == "__main__":
    main()
