"""A static, self-contained HTML report of a run: one page an analyst can mail or archive.

:func:`build_report` reads a results folder (:func:`ww_bayes.results.collect`), asks each section
(:mod:`ww_bayes.report.sections`) for its blocks, draws the figures (:mod:`ww_bayes.viz`) and renders the
jinja2 template ``templates/report.html.j2``; figures are embedded as base64 PNG, so the file needs nothing
beside it.
"""

from __future__ import annotations

import base64
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt

from ww_bayes import __version__
from ww_bayes.data.io import atomic_write
from ww_bayes.kinds.protocol import Block, Heading, Paragraph, Plot, Table
from ww_bayes.report.sections import sections
from ww_bayes.results import RunFiles, collect
from ww_bayes.viz import draw

if TYPE_CHECKING:  # jinja2 is imported where a report is built, so other commands do not pay for it
    import jinja2
    from markupsafe import Markup

TEMPLATES = Path(__file__).with_name("templates")


class ReportError(ValueError):
    """The results folder holds nothing a report can be made of."""


def _table_html(table: Table) -> Markup:
    from markupsafe import Markup

    html = table.frame.to_html(
        index=False, border=0, na_rep="", float_format=lambda v: f"{v:,.{table.digits}f}", escape=True
    )
    return Markup(html)  # pandas escaped every cell


def _png_data(plot: Plot) -> str:
    figure = draw(plot)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=90)
    finally:
        plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _renderable(block: Block) -> dict:
    """A block as the template reads it: its type and its content (tables as escaped HTML, figures as
    PNG data URIs)."""
    if isinstance(block, Heading):
        return {"type": "heading", "text": block.text}
    if isinstance(block, Paragraph):
        return {"type": "paragraph", "text": block.text, "style": block.style}
    if isinstance(block, Table):
        return {"type": "table", "html": _table_html(block), "collapsed": block.collapsed}
    if isinstance(block, Plot):
        return {"type": "figure", "src": _png_data(block), "caption": block.caption}
    raise TypeError(f"not a report block: {block!r}")


def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )


def build_report(results_dir: str | os.PathLike, run: RunFiles | None = None) -> str:
    """The report of the run in ``results_dir`` as one HTML string (figures embedded); ``run``: its files,
    when already read (:func:`ww_bayes.results.collect`). Unreadable files are listed, not fatal."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder")
    run = run if run is not None else collect(folder)
    if not (run.fits or run.cost_effectiveness):
        raise ReportError(
            f"{folder}: no ww_bayes fits or cost-effectiveness results (*.nc) to report on; "
            "run `make demo` or `ww-bayes fit ...` first"
        )
    rendered = [
        {"anchor": s.anchor, "title": s.title, "blocks": [_renderable(b) for b in s.build(run)]}
        for s in sections()
    ]
    template = _environment().get_template("report.html.j2")
    return template.render(
        sections=rendered,
        folder=str(folder),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
    )


def write_report(results_dir: str | os.PathLike, out: str | os.PathLike, run: RunFiles | None = None) -> Path:
    """Build the report of ``results_dir`` and write it to ``out`` atomically."""
    page = build_report(results_dir, run)
    return atomic_write(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))


__all__ = ["ReportError", "build_report", "sections", "write_report"]
