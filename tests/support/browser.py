"""Debian's headless Chromium for the HTML report tests (``make browser``
installs it when missing): draw a page, dump the DOM it built, take a
screenshot, measure where its texts land.

Without Chromium the tests that need it are skipped on a developer's
machine and fail in CI, where a skipped check would hide a broken page.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)

#: Run in a copy of the page (whose own policy allows no script): writes
#: what each chart drew, with the boxes of its texts, into the page.
MEASURE = """
// each word of an element's text and the left edge of where it is drawn
const words = element => [...element.childNodes].filter(n => n.nodeType === 3).flatMap(node => {
  const found = [];
  for (const match of node.textContent.matchAll(/\\S+/g)) {
    const range = document.createRange();
    range.setStart(node, match.index);
    range.setEnd(node, match.index + match[0].length);
    found.push([match[0], range.getBoundingClientRect().left]);
  }
  return found;
});
const figures = [...document.querySelectorAll('figure')].map(fig => {
  const svg = fig.querySelector('svg');
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {
    title: fig.querySelector('figcaption').textContent,
    words: words(fig.querySelector('figcaption')),
    svg: svg ? box(svg) : null,
    texts: svg ? [...svg.querySelectorAll('text')].map(t => ({
      text: [...t.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join(''),
      cls: t.getAttribute('class'), box: box(t)})) : [],
    legend: [...fig.querySelectorAll('ul.legend li')].map(li => ({text: li.textContent,
      colour: getComputedStyle(li.querySelector('.swatch')).backgroundColor, box: box(li)})),
    lines: fig.querySelectorAll('polyline.line').length,
    series: [...fig.querySelectorAll('g.series')].map(g => g.dataset.series),
    bars: fig.querySelectorAll('rect.bar').length,
  };
});
const flagged = [...document.querySelectorAll('tr.flagged')].map(tr => getComputedStyle(tr).backgroundColor);
const out = document.createElement('pre');
out.id = 'measured';
const filters = words(document.querySelector('p.filters'));
out.textContent = JSON.stringify({figures, flagged, filters, viewport: window.innerWidth,
  pageWidth: document.documentElement.scrollWidth});
document.body.appendChild(out);
"""


def needs_browser() -> str:
    if BROWSER is None:
        if os.environ.get("CI"):
            pytest.fail("no headless Chromium: `make test` installs Debian's chromium package")
        pytest.skip("no headless Chromium installed (apt-get install chromium)")
    return BROWSER


def chromium(page: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = out.parent / "chromium-profile"
    args = [needs_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", *extra, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)


def measure(page: Path, width: int = 1200, height: int = 900) -> dict[str, Any]:
    """What the browser drew of ``page`` at that window size (see ``MEASURE``)."""
    html = page.read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert policy is not None
    copy = page.with_name(f"measured-{page.name}")
    copy.write_text(html.replace(policy.group(1), policy.group(1) + "; script-src 'unsafe-inline'")
                    .replace("</body>", f"<script>{MEASURE}</script></body>"), encoding="utf-8")
    dom = chromium(copy, copy, "--dump-dom", f"--window-size={width},{height}").stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    return json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def colour_pixels(png: Path, colours: dict[str, str]) -> dict[str, int]:
    """How many pixels of each ``#rrggbb`` colour (give or take 3) the screenshot has."""
    from PIL import Image
    image = Image.open(png).convert("RGB")
    counts: list[tuple[int, tuple[int, int, int]]] = image.getcolors(maxcolors=1 << 22) or []  # type: ignore[assignment]
    found = {}
    for name, hex_colour in colours.items():
        rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        found[name] = sum(n for n, seen in counts if all(abs(a - b) <= 3 for a, b in zip(seen, rgb)))
    return found


def assert_drawn(png: Path, min_bar_pixels: int, bar: str = "#2f6fb0") -> None:
    """The screenshot is not blank and has the charts' bars in their colour."""
    from PIL import Image
    image = Image.open(png).convert("RGB")
    colours: list[tuple[int, tuple[int, int, int]]] = image.getcolors(maxcolors=1 << 22) or []  # type: ignore[assignment]
    bar_pixels = colour_pixels(png, {"bar": bar})["bar"]
    ink = sum(n for n, rgb in colours if sum(rgb) < 600)
    assert bar_pixels >= min_bar_pixels, f"{png}: only {bar_pixels} pixels of bar colour"
    assert ink > 0.02 * image.width * image.height, f"{png}: the page looks blank"
