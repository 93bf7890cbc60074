"""The report in a real browser: headless Chromium driven by Playwright.

Skipped, with the reason, only when the system Chromium or the playwright
package is missing; CI installs both.  Set SPARSEAE_SCREENSHOT_DIR to keep the
screenshots.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sparseae.report import write_report

CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (install Debian's: apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the playwright package is not installed (pip install playwright)",
)

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"]
        )
        yield browser
        browser.close()


def open_report(browser, path):
    """Open ``path``; return the page, its console errors and every request."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda error: errors.append(str(error)))

    def route(route):
        requests.append(route.request.url)
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            route.abort()

    page.route("**/*", route)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, requests


def keep_screenshot(page, tmp_path, name):
    shot = tmp_path / name
    page.screenshot(path=shot, full_page=True)
    if folder := os.environ.get("SPARSEAE_SCREENSHOT_DIR"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(folder) / name)
    return shot


def not_blank(shot):
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    # A blank page is one colour; a report has text, plots and images.
    return pixels.std() > 20 and len(np.unique(pixels)) > 50


def test_report_renders_in_chromium(browser, digits_model, digits, tmp_path):
    path = write_report(
        tmp_path / "report.html", digits_model, digits, image_shape=(8, 8)
    )
    page, errors, requests = open_report(browser, path)
    try:
        assert errors == []
        # The recorder works: it saw the page itself.
        assert path.as_uri() in requests
        outside = [
            url
            for url in requests
            if url != path.as_uri() and not url.startswith("data:")
        ]
        assert outside == []
        images = page.eval_on_selector_all(
            "img", "images => images.map(i => [i.complete, i.naturalWidth])"
        )
        assert len(images) == 3 + 8 + 2 * 60
        assert all(complete and width > 0 for complete, width in images)
        units = page.eval_on_selector_all(
            "[data-unit]", "cards => cards.map(c => Number(c.dataset.unit))"
        )
        assert units == list(range(60))
        assert page.locator(".card:visible").count() == 50
        assert page.locator("#unit-0").is_visible()
        # Nothing sticks out sideways (a long unbreakable list of units did).
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        # The second page of cards, then all of them.
        page.click("button[data-show-page='1']")
        assert page.locator(".card:visible").count() == 10
        assert page.locator("#unit-55").is_visible()
        assert not page.locator("#unit-0").is_visible()
        page.click("button[data-show-page='all']")
        assert page.locator(".card:visible").count() == 60
        # A link to a card on a hidden page opens that page.
        page.click("button[data-show-page='0']")
        page.evaluate("window.location.hash = '#unit-57'")
        page.wait_for_function(
            "!document.getElementById('unit-57').closest('[hidden]')"
        )
        assert page.locator("#unit-57").is_visible()
        page.click("button[data-show-page='0']")
        shot = keep_screenshot(page, tmp_path, "report-digits.png")
        assert not_blank(shot)
        assert errors == []
    finally:
        page.close()


def test_report_on_data_that_are_not_images(browser, flat_model, flat_data, tmp_path):
    path = write_report(tmp_path / "report.html", flat_model, flat_data, top_k=3)
    page, errors, requests = open_report(browser, path)
    try:
        assert errors == [] and set(requests) <= {path.as_uri()}
        widths = page.eval_on_selector_all("img", "i => i.map(x => x.naturalWidth)")
        assert widths and all(w > 0 for w in widths)
        assert page.locator("[data-unit]").count() == 5
        assert page.locator("button[data-show-page]").count() == 0
        assert not_blank(keep_screenshot(page, tmp_path, "report-heat-maps.png"))
    finally:
        page.close()


def test_a_unit_link_works_every_time_it_is_clicked(browser, digits, tmp_path):
    from .conftest import fit

    # Strong L1 on ReLU units: some are off on every input, and listed as dead.
    model = fit(
        30,
        digits,
        hidden_activation="relu",
        penalty="l1",
        sparsity_weight=0.1,
        output_activation="linear",
        max_iter=30,
    )
    path = write_report(tmp_path / "report.html", model, digits, units_per_page=5)
    page, errors, _ = open_report(browser, path)
    try:
        links = page.eval_on_selector_all(
            "#dead-units a", "links => links.map(a => a.getAttribute('href'))"
        )
        target = links[-1]
        assert int(target.removeprefix("#unit-")) >= 5  # not on the first page
        card = page.locator(target)
        for _ in range(2):
            page.click("button[data-show-page='0']")
            assert not card.is_visible()
            page.click(f"#dead-units a[href='{target}']")
            page.wait_for_function(
                f"!document.querySelector('{target}').closest('[hidden]')"
            )
            assert card.is_visible()
            assert card.evaluate("c => c.getBoundingClientRect().top") < 900
        # A card with no active input says so instead of showing rows 0-8.
        assert "no input activates this unit" in card.inner_text()
        # A card with a few says so, and its longer caption leaves the filter
        # beside it at the size of every other filter.
        page.click("button[data-show-page='all']")
        few = page.locator("figcaption", has_text="only ")
        assert few.count() > 0
        widths = page.eval_on_selector_all(
            "img[alt^='filter of unit']",
            "images => images.map(i => i.getBoundingClientRect().width)",
        )
        assert len(widths) == 30 and min(widths) == max(widths) == 64
        assert not_blank(keep_screenshot(page, tmp_path, "report-relu-link.png"))
        assert errors == []
    finally:
        page.close()
