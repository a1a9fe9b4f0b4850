"""Every presentation of results: HTML, Markdown and CSV reports, and the terminal tables.

They read results only (and the images, for thumbnails); they never re-run a model. Names are
imported on first use, so ``evalkit.report.format`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalkit._lazy import lazy_exports

if TYPE_CHECKING:
    from evalkit.report.render import render_html, render_markdown, write_report
    from evalkit.report.terminal import print_notes, print_summary, run_summary

_LAZY = {
    "render_html": "evalkit.report.render",
    "render_markdown": "evalkit.report.render",
    "write_report": "evalkit.report.render",
    "print_summary": "evalkit.report.terminal",
    "print_notes": "evalkit.report.terminal",
    "run_summary": "evalkit.report.terminal",
}

__all__ = [
    "print_notes",
    "print_summary",
    "render_html",
    "render_markdown",
    "run_summary",
    "write_report",
]


__getattr__ = lazy_exports(__name__, _LAZY, globals())
