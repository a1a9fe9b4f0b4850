"""The robustness section of every presentation (HTML heatmap, Markdown, terminal, --json, CSV),
from RunResults whose ``robustness`` section is built from known corrupted predictions."""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from evalkit.analysis.robustness import ALEXNET_ERRORS, robustness_section
from evalkit.corruption_spec import CORRUPTIONS, GROUPS, SEVERITIES
from evalkit.report.render import render_html, render_markdown, summary_csv
from evalkit.report.robustness import contrast, heat_rgb, heat_style, levels
from evalkit.report.terminal import print_summary, robustness_table, run_summary
from helpers import fake_run, hits_table

CLASSES = ["c0", "c1", "c2", "c3"]
N = 40  # images per corruption and severity
DASH, TIMES = "\N{EN DASH}", "\N{MULTIPLICATION SIGN}"


def wrong(corruption: str, severity: int) -> int:
    """Mistakes among the N images: 2 per place in CORRUPTIONS and per severity (5% to 95%)."""
    return 2 * CORRUPTIONS.index(corruption) + 2 * severity


def error(corruption: str, severity: int) -> float:
    return wrong(corruption, severity) / N


def robust_run(
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    model_id: str = "torchvision:resnet50",
) -> Any:
    """A run (top-1 error 5% on N clean images) with a robustness section over every pair of
    ``corruptions`` and ``severities``, each variant set with :func:`wrong` mistakes."""
    run = fake_run(hits_table(np.arange(N) >= 2, CLASSES), CLASSES, model_id=model_id)
    frames = [
        hits_table(np.arange(N) >= wrong(name, level), CLASSES, corruption=name, severity=level)
        for name in corruptions
        for level in severities
    ]
    complete = tuple(corruptions) == CORRUPTIONS and tuple(severities) == SEVERITIES
    setup = {
        "benchmark": "imagenet-c",
        "corruptions": "imagenet-c" if complete else "noise:3",
        "severities": list(severities),
        "protocol": "jpeg",
        "geometry": "shorter side 256, centre crop 224, corrupted",
        "seed": 0,
        "implementation": 1,
        "complete": complete,
    }
    run.robustness = robustness_section(pd.concat(frames), 1 - run.metrics.top1.value, setup)
    return run


def plain_run() -> Any:
    return fake_run(hits_table(np.arange(N) >= 4, CLASSES), CLASSES, model_id="torchvision:vgg16")


@pytest.fixture(scope="module")
def run() -> Any:
    return robust_run()


class Heatmaps(HTMLParser):
    """Every ``table.heatmap``: row header text -> that row's other cells (text, attributes)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[dict[str, list[dict[str, str]]]] = []
        self.cells: list[dict[str, str]] = []
        self.cell: dict[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "table" and "heatmap" in found.get("class", ""):
            self.tables.append({})
        elif self.tables and tag == "tr":
            self.cells = []
        elif self.tables and tag in ("th", "td"):
            self.cell = found | {"tag": tag, "text": ""}

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self.cell is not None:
            self.cells.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.tables and self.cells and self.cells[0].get("scope") == "row":
            self.tables[-1][self.cells[0]["text"]] = self.cells[1:]


def background(style: str) -> tuple[int, int, int]:
    found = re.fullmatch(r"background:#(\w\w)(\w\w)(\w\w);color:#(\w{6})", style)
    assert found, style
    red, green, blue = (int(found.group(i), 16) for i in (1, 2, 3))
    return red, green, blue


def test_heatmap_shows_each_error_in_its_cell(run: Any) -> None:
    """Rows in CORRUPTIONS order, one column per severity, then mean, CE and relative CE."""
    html = render_html([run])
    (table,) = Heatmaps(html).tables
    names = [name.replace("_", " ") for name in CORRUPTIONS]
    assert list(table) == [*names, "mean (mCE)"]
    for name in CORRUPTIONS:
        row = table[name.replace("_", " ")]
        assert [cell["text"] for cell in row[:5]] == [
            f"{100 * error(name, s):.1f}" for s in SEVERITIES
        ]
        assert all(f"n={N} · top-1 error" in cell["title"] for cell in row[:5])
        ce = sum(error(name, s) for s in SEVERITIES) / sum(ALEXNET_ERRORS[name])
        mean = sum(error(name, s) for s in SEVERITIES) / 5
        assert [cell["text"] for cell in row[5:]] == [
            f"{100 * mean:.1f}",
            f"{100 * ce:.1f}",
            f"{100 * run.robustness.errors[CORRUPTIONS.index(name)].relative_ce:.1f}",
        ]
    footer = [cell["text"] for cell in table["mean (mCE)"]]
    per_level = [sum(error(c, s) for c in CORRUPTIONS) / len(CORRUPTIONS) for s in SEVERITIES]
    assert footer[:5] == [f"{100 * value:.1f}" for value in per_level]
    assert footer[6:] == [
        f"{100 * run.robustness.mce:.1f}",
        f"{100 * run.robustness.relative_mce:.1f}",
    ]


def test_heatmap_cell_title_has_the_wilson_interval_of_the_error(run: Any) -> None:
    cell = run.robustness.cell("fog", 2)
    (table,) = Heatmaps(render_html([run])).tables
    low, high = 100 * (1 - cell.top1.high), 100 * (1 - cell.top1.low)
    assert table["fog"][1]["title"] == (
        f"n={N} · top-1 error {100 * cell.error:.1f}% · "
        f"95% Wilson interval [{low:.1f}, {high:.1f}]%"
    )


def test_heatmap_colours_grow_with_the_error_and_stay_readable(run: Any) -> None:
    (table,) = Heatmaps(render_html([run])).tables
    cells = [cell for row in table.values() for cell in row if cell.get("class") == "heat"]
    coloured = sorted((float(cell["text"]), background(cell["style"])) for cell in cells)
    assert len(coloured) == 15 * 5 + 15 + 6
    for (low, first), (high, second) in itertools.pairwise(coloured):
        assert all(b <= a for a, b in zip(first, second, strict=True))  # never lighter
        if high > low:
            assert second[1] < first[1]  # strictly darker green: a visible step
    for cell in cells:
        text = re.search(r"color:#(\w{6})", cell["style"])
        assert text is not None
        rgb = background(cell["style"])
        colour = tuple(int(text.group(1)[i : i + 2], 16) for i in (0, 2, 4))
        assert contrast(rgb, colour) >= 4.5  # WCAG AA for normal text
    assert heat_rgb(0.0) == (255, 255, 255) and heat_rgb(2.0) == heat_rgb(1.0) == (185, 28, 28)
    assert heat_style(None) == heat_style(math.nan) == ""
    assert heat_style(1.0).endswith("color:#ffffff") and heat_style(0.0).endswith("color:#000000")


def test_html_section_headline_groups_and_accessibility(run: Any) -> None:
    html = render_html([run])
    section = html[html.index('<section id="robustness">') : html.index('<section id="classes">')]
    assert '<a href="#robustness">Robustness</a>' in html and "<h2>Robustness</h2>" in section
    mce, relative = run.robustness.mce, run.robustness.relative_mce
    assert (
        f"mCE <b>{100 * mce:.1f}%</b> · relative mCE {100 * relative:.1f}% · clean error 5.0%"
        in section
    )
    assert f"severities 1{DASH}5" in section and "protocol jpeg" in section
    assert "frost: procedural texture (docs/robustness.md)" in section
    assert "not comparable" not in section
    groups = re.findall(r'<th scope="rowgroup" colspan="9">(\w+)</th>', section)
    assert groups == list(GROUPS)
    assert "<caption>" in section and '<th scope="col">3</th>' in section
    assert "Geometry: shorter side 256, centre crop 224, corrupted." in section
    assert "http" not in section and "src=" not in section  # offline, no external resources


def test_markdown_has_the_line_and_the_table(run: Any) -> None:
    markdown = render_markdown([run])
    mce, relative = run.robustness.mce, run.robustness.relative_mce
    assert (
        f"- torchvision:resnet50: mCE **{100 * mce:.1f}%** · relative mCE {100 * relative:.1f}% · "
        f"clean error 5.0% (imagenet-c, jpeg, severities 1{DASH}5) · frost: procedural texture"
    ) in markdown
    assert f"<details><summary>Corruptions {TIMES} severities of torchvision:resnet50" in markdown
    header = "| corruption | severity 1 | severity 2 | severity 3 | severity 4 | severity 5 |"
    assert header + " mean | CE % | relative CE % |" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| fog |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:6] == [f"{100 * error('fog', s):.1f}" for s in SEVERITIES]
    footer = next(line for line in markdown.splitlines() if line.startswith("| **mean (mCE)**"))
    assert f"**{100 * mce:.1f}**" in footer


def test_terminal_table_rows(run: Any) -> None:
    other = robust_run(model_id="torchvision:vgg16")
    table = robustness_table([run, plain_run(), other])
    assert table is not None
    assert table.title == "corruptions (imagenet-c, jpeg): top-1 error % · CE %"
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(table)
    lines = buffer.getvalue().splitlines()
    assert "torchvision:vgg16" in lines[2] and len(table.columns) == 3  # the plain run: no column
    fog = next(line.split() for line in lines if line.strip().startswith("fog "))
    entry = run.robustness.errors[CORRUPTIONS.index("fog")]
    assert fog[1:4] == [f"{100 * entry.error:.1f}", "·", f"{100 * entry.ce:.1f}"]
    names = [line.split()[0] for line in lines if line.strip() and line.split()[0] in CORRUPTIONS]
    assert names == list(CORRUPTIONS)
    mce = next(line.split() for line in lines if line.strip().startswith("mCE"))
    assert mce[1:] == [f"{100 * run.robustness.mce:.1f}"] * 2
    relative = next(line.split() for line in lines if line.strip().startswith("relative mCE"))
    assert relative[2:] == [f"{100 * run.robustness.relative_mce:.1f}"] * 2


def test_print_summary_shows_the_table_after_the_slices(run: Any) -> None:
    buffer = io.StringIO()
    print_summary([run], Console(file=buffer, width=150, color_system=None))
    assert "corruptions (imagenet-c, jpeg): top-1 error % · CE %" in buffer.getvalue()


def test_run_summary_and_summary_csv_have_the_mce(run: Any) -> None:
    plain = plain_run()
    assert run_summary(run)["mce"] == run.robustness.mce
    assert run_summary(run)["relative_mce"] == run.robustness.relative_mce
    assert run_summary(plain)["mce"] is None and run_summary(plain)["relative_mce"] is None
    frame = summary_csv([run, plain])
    assert frame["mce"].iloc[0] == run.robustness.mce and math.isnan(frame["mce"].iloc[1])
    assert frame["relative_mce"].iloc[0] == run.robustness.relative_mce
    assert "mce" not in summary_csv([plain]).columns  # no robustness: the columns as before


def test_runs_without_robustness_show_no_section(run: Any) -> None:
    plain = plain_run()
    html, markdown = render_html([plain]), render_markdown([plain])
    assert 'id="robustness"' not in html and "#robustness" not in html
    assert "table.heatmap" not in html and 'class="heatmap"' not in html
    assert "Robustness" not in markdown and "mCE" not in markdown
    assert robustness_table([plain]) is None
    buffer = io.StringIO()
    print_summary([plain], Console(file=buffer, width=150, color_system=None))
    assert "corruptions" not in buffer.getvalue()
    mixed = render_html([plain, run])
    assert len(Heatmaps(mixed).tables) == 1 and "<h3>torchvision:vgg16</h3>" not in mixed


def test_incomplete_set_shows_the_caveat() -> None:
    partial = robust_run(GROUPS["noise"], [3])
    assert partial.robustness is not None and not partial.robustness.complete
    html = render_html([partial])
    caveat = "⚠ mCE over this subset only: not comparable with published mCE values"
    assert caveat in html and caveat in render_markdown([partial])
    assert "frost:" not in html  # frost was not evaluated
    (table,) = Heatmaps(html).tables
    assert list(table) == ["gaussian noise", "shot noise", "impulse noise", "mean (mCE)"]
    assert [cell["text"] for cell in table["shot noise"][:1]] == [
        f"{100 * error('shot_noise', 3):.1f}"
    ]
    assert re.findall(r'<th scope="rowgroup"[^>]*>(\w+)</th>', html) == ["noise"]
    assert "severities 3 ·" in html
    table_ = robustness_table([partial])
    assert table_ is not None and "not comparable with published mCE" in str(table_.caption)


def test_untrusted_labels_are_escaped() -> None:
    hostile = robust_run(model_id="python:<img src=x onerror=alert(1)>")
    html = render_html([hostile])
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;: top-1 error" in html


def test_levels() -> None:
    assert levels([1, 2, 3, 4, 5]) == f"1{DASH}5" and levels([2, 3, 4]) == f"2{DASH}4"
    assert levels([1, 3, 5]) == "1, 3, 5" and levels([3]) == "3" and levels([4, 5]) == "4, 5"
