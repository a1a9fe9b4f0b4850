"""Reports (HTML, Markdown, CSV) made from results files only; they never re-run a model."""

from __future__ import annotations

from evalkit.report.render import render_html, render_markdown, write_report

__all__ = ["render_html", "render_markdown", "write_report"]
