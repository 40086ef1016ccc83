"""The page's layout in headless Chromium, at a phone's width (390 px, emulated) and at 1280 px: no
text on the page (HTML, MathML, the pictures' SVG text) renders below 11 CSS px on the phone; no
derivation row is cut off (each scrolls inside its box, and the page itself never scrolls sideways);
no table cell's content runs into the next column (the errata's "E_total after 10000 steps" did at
1280 px); the diagram's texts, as drawn (getBBox through the screen transform), do not overlap.
Screenshots go to $DERIVE_SCREENSHOTS (or a temporary folder)."""

import os
from pathlib import Path

import pytest
from conftest import ROOT, spec_text
from networks import ZOO

import derive

PAGES = {"mazur": None, "softmax_ce": ZOO["softmax_ce"], "deep_tanh_relu": ZOO["deep_tanh_relu"],
         "two_three_two": spec_text(layers="[2, 3, 2]", weights=None, biases=None, seed="1")}
SMALLEST = 11.0  # CSS px

TEXT_SIZES = """
const out = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode, el = node.parentElement;
  if (!node.textContent.trim() || el.closest('script, style, title')) continue;
  if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
  let size = parseFloat(getComputedStyle(el).fontSize);
  if (el instanceof SVGElement) {  // its font size in user units, times the picture's scale on screen
    const m = el.getScreenCTM();
    size *= Math.hypot(m.a, m.b);
    const box = el.getBoundingClientRect();  // the same from the drawn box (level text: its height)
    if (Math.abs(m.b) < 1e-9) size = Math.min(size, box.height / 1.16);
  }
  out.push([size, el.tagName, node.textContent.trim().slice(0, 40)]);
}
return out;
"""

CLIPPED_ROWS = """
const out = [];
for (const row of document.querySelectorAll('#derivation-body .row, .derivation .row')) {
  const box = row.closest('.derivation');
  const style = getComputedStyle(box);
  const right = Math.max(...Array.from(row.querySelectorAll('*')).map(e => e.getBoundingClientRect().right));
  const reach = box.getBoundingClientRect().left + box.clientLeft + box.scrollWidth - box.scrollLeft;
  const scrolls = ['auto', 'scroll'].includes(style.overflowX);
  const fits = right <= box.getBoundingClientRect().left + box.clientLeft + box.clientWidth + 0.5;
  if (!(fits || (scrolls && right <= reach + 0.5))) out.push(row.textContent.slice(0, 60));
}
return out;
"""

CELLS_OVERRUN = """
const out = [];
for (const td of document.querySelectorAll('td, th')) {
  const cell = td.getBoundingClientRect();
  for (const e of td.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.width && (r.right > cell.right + 0.5 || r.left < cell.left - 0.5)) {
      out.push([td.closest('table').className, td.textContent.slice(0, 40), cell.right, r.right]);
      break;
    }
  }
}
return out;
"""

LABEL_QUADS = """
return Array.from(document.querySelectorAll('svg.network text')).map(t => {
  const b = t.getBBox(), m = t.getScreenCTM();
  const p = (x, y) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
  return [t.textContent, [p(b.x, b.y), p(b.x + b.width, b.y), p(b.x + b.width, b.y + b.height), p(b.x, b.y + b.height)]];
});
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layout")
    out = {"mazur": ROOT / "generated" / "mazur" / "mazur.html"}
    for name, text in PAGES.items():
        if text:
            (folder / f"{name}.toml").write_text(text)
            model = derive.load(folder / f"{name}.toml")
            (folder / f"{name}.html").write_text(model.html(check=False))
            out[name] = folder / f"{name}.html"
    return out


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("DERIVE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def desktop(camera):
    """The shared browser at 1280 px that takes screenshots (conftest's ``camera``)."""
    return camera


def _open(driver, path: Path, shots: Path, name: str, tag: str):
    driver.get(path.as_uri())
    assert driver.execute_script("return document.body.dataset.ready") == "true"
    assert driver.save_screenshot(str(shots / f"layout-{name}-{tag}.png"))


@pytest.mark.parametrize("name", sorted(PAGES))
def test_on_a_phone_no_text_is_below_11_px_and_no_row_is_cut_off(phone, pages, shots, name):
    _open(phone, pages[name], shots, name, "phone")
    assert phone.execute_script("return window.innerWidth") == 390
    sizes = phone.execute_script(TEXT_SIZES)
    kinds = {tag for _, tag, _ in sizes}
    assert {"text", "tspan", "mi", "mn", "TD", "P"} <= kinds  # the picture, the MathML and the HTML are all measured
    small = [s for s in sizes if s[0] < SMALLEST - 0.01]
    assert small == [], f"{len(small)} texts below {SMALLEST} px, e.g. {small[:5]}"
    assert phone.execute_script(CLIPPED_ROWS) == []
    assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth "
                                "&& document.body.scrollWidth <= document.body.clientWidth")


def test_on_a_phone_the_loss_plot_reads_at_11_px(phone, shots):
    """The reference page's training section draws loss curves: their ticks and legend too."""
    _open(phone, ROOT / "generated" / "mazur" / "mazur.html", shots, "mazur-plot", "phone")
    sizes = [s for s in phone.execute_script(TEXT_SIZES) if s[1] == "text"]
    plot = phone.execute_script("return Array.from(document.querySelectorAll('svg.plot text')).length")
    assert plot > 5 and len(sizes) > plot
    assert min(s[0] for s in sizes) >= SMALLEST


@pytest.mark.parametrize("name", ["mazur", "softmax_ce"])
def test_at_1280_px_no_cell_runs_into_the_next_column(desktop, pages, shots, name):
    _open(desktop, pages[name], shots, name, "desktop")
    assert desktop.execute_script("return document.querySelectorAll('td').length") > 20
    assert desktop.execute_script(CELLS_OVERRUN) == []


def _separated(a, b) -> bool:
    """Two convex quadrilaterals are apart when some edge's normal separates them."""
    for quad in (a, b):
        for k in range(4):
            (x1, y1), (x2, y2) = quad[k], quad[(k + 1) % 4]
            nx, ny = y1 - y2, x2 - x1
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) or max(pb) <= min(pa):
                return True
    return False


@pytest.mark.parametrize("name", sorted(PAGES))
@pytest.mark.parametrize("width", [1280, 390])
def test_the_diagrams_drawn_texts_do_not_overlap(phone, desktop, pages, name, width):
    driver = phone if width == 390 else desktop
    driver.get(pages[name].as_uri())
    quads = driver.execute_script(LABEL_QUADS)
    assert len(quads) > 10
    for k, (a, qa) in enumerate(quads):
        for b, qb in quads[k + 1:]:
            assert _separated(qa, qb), f"{a!r} overlaps {b!r}"
