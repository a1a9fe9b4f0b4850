"""The HTML report in a real browser (headless Debian Chromium through chromedriver).

Skipped where Chromium is not installed; under CI (``CI=true``, where ``.ci/run`` installs it)
a missing browser is a failure instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.report import write_report
from helpers import run_cli, synthetic_runs

XSS = '<img src=x onerror="window.__xss=1">'
ALLOWED_SCHEMES = ("data:", "chrome:", "chrome-extension:", "about:", "devtools:")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"


def _binaries() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    found = _binaries()
    if found is None:
        message = "Chromium not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; .ci/run must install it")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    profile = tempfile.mkdtemp(prefix="evalkit-chrome-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(driver: Any, path: Path, width: int = 1280) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get_log("performance")
    driver.set_window_size(width, 900)
    driver.get(path.as_uri())


def requests_made(driver: Any, page: Path) -> list[str]:
    """URLs the page asked for, other than itself and inline data."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return [u for u in urls if u != page.as_uri() and not u.startswith(ALLOWED_SCHEMES)]


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def screenshot(driver: Any, name: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / path.name)
    return path


@pytest.fixture(scope="module")
def demo_report(
    demo: tuple[dict[str, str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The report ``evalkit run`` writes for the two demo models (real images, thumbnails)."""
    models, data = demo
    out = tmp_path_factory.mktemp("demo-report")
    done = run_cli(
        "run", "--model", models["torch"], "--model", models["keras"], "--data", data,
        "--batch-size", "64", "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / "report.md").is_file() and (out / "summary.csv").is_file()
    return out / "report.html"


def test_demo_report_loads_offline_without_errors(
    chrome: Any, demo_report: Path, tmp_path: Path
) -> None:
    open_report(chrome, demo_report)
    assert chrome.title == "evalkit report"
    rows = chrome.find_elements("css selector", "#summary-table tbody tr")
    assert [r.find_element("css selector", "td").text for r in rows] == [
        "torch-export:digits-cnn-torch.pt2",
        "keras-file:digits-cnn-keras.keras",
    ]
    assert "only where the lead is significant" in chrome.page_source  # ★ needs a real lead
    assert chrome.find_elements("css selector", ".tile img")  # thumbnails decoded
    assert len(chrome.find_elements("css selector", "svg")) >= 4  # charts rendered inline
    screenshot(chrome, "demo-report-1280", tmp_path)
    assert console_errors(chrome) == []
    assert requests_made(chrome, demo_report) == []


def test_per_class_table_sorts_and_filters(chrome: Any, demo_report: Path) -> None:
    open_report(chrome, demo_report)
    table = "#class-table tbody tr"

    def first_column() -> list[str]:
        rows = chrome.find_elements("css selector", table)
        return [r.find_element("css selector", "td").text for r in rows if r.is_displayed()]

    chrome.find_element("css selector", "#class-table th[data-sort=text]").click()
    assert first_column() == [str(d) for d in range(10)]
    chrome.find_element("css selector", "#class-filter").send_keys("7")
    assert first_column() == ["7"]
    assert console_errors(chrome) == []


def test_calibration_reads_at_a_glance(chrome: Any, demo_report: Path, tmp_path: Path) -> None:
    """Each model: ECE, NLL, Brier and macro-F1 with intervals, a verdict in words, and its
    reliability diagram (bars, diagonal, histogram) visible; B - A with paired intervals."""
    open_report(chrome, demo_report)
    chrome.find_element("css selector", "nav a[href='#calibration']").click()
    rows = chrome.find_elements("css selector", "#calibration-table tbody tr")
    assert len(rows) == 2
    for row in rows:
        cells = [cell.text for cell in row.find_elements("css selector", "td")]
        assert re.fullmatch(r"\d+\.\d\d \[\d+\.\d, \d+\.\d\]", cells[1]), cells  # ECE %
        assert re.fullmatch(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", cells[2]), cells  # NLL
        assert re.match(r"(well calibrated on average|over-confident|under-confident): ", cells[5])
    diagrams = chrome.find_elements("css selector", "#calibration .reliability figure svg")
    assert len(diagrams) == 2 and all(d.is_displayed() for d in diagrams)
    assert all(d.size["width"] > 250 and d.size["height"] > 250 for d in diagrams)
    text = chrome.find_element("css selector", "#calibration").text
    assert "perfect calibration" in text and "ECE" in text
    changes = chrome.find_elements("css selector", "#pair-changes tbody tr td")
    assert len(changes) == 6 and re.match(r"[+-]", changes[2].text)  # macro-F1 Δ
    screenshot(chrome, "demo-report-calibration", tmp_path)
    assert console_errors(chrome) == []


def test_phone_width_has_no_page_level_horizontal_scroll(
    chrome: Any, demo_report: Path, tmp_path: Path
) -> None:
    open_report(chrome, demo_report, width=390)
    inner = chrome.execute_script("return document.documentElement.clientWidth")
    scroll = chrome.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= inner, "wide tables must scroll inside their box, not the page"
    screenshot(chrome, "demo-report-phone", tmp_path)


def test_hostile_class_names_render_as_text(chrome: Any, tmp_path: Path) -> None:
    runs = synthetic_runs(300, [XSS, "<script>window.__xss=2</script>", "plain"])
    runs[0].failures = [{"file": XSS, "reason": "<b onmouseover=alert(1)>x</b>"}]
    page = write_report(runs, tmp_path)["html"]
    open_report(chrome, page)
    assert chrome.execute_script("return window.__xss === undefined")
    assert XSS in chrome.find_element("css selector", "#class-table").text
    assert console_errors(chrome) == []
    assert requests_made(chrome, page) == []  # the <img src=x> was never an element
    screenshot(chrome, "xss-report", tmp_path)


def test_only_the_reports_own_script_runs(chrome: Any, demo_report: Path, tmp_path: Path) -> None:
    """The CSP allows evalkit's script by its hash: a script an escaping bug let into the page
    (inline or as an event handler) is blocked, while the report's own script still works."""
    html = demo_report.read_text()
    assert (
        "'unsafe-inline'; script-src 'sha256-" in html and "script-src 'unsafe-inline'" not in html
    )
    injected = html.replace(
        "</main>",
        '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"></main>',
    )
    page = tmp_path / "tampered.html"
    page.write_text(injected)
    open_report(chrome, page)
    assert chrome.execute_script("return window.__pwned === undefined")
    chrome.find_element("css selector", "#class-table th[data-sort=text]").click()
    rows = chrome.find_elements("css selector", "#class-table tbody tr")
    assert [r.find_element("css selector", "td").text for r in rows][:3] == ["0", "1", "2"]
