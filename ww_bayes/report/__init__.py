"""A static, self-contained HTML report of a run: one page an official reads in five minutes and an analyst
keeps, in English or Dutch.

:func:`build_report` reads a results folder or a release folder (:func:`ww_bayes.results.collect`), opens
with the summary screen (:mod:`ww_bayes.report.summary`: six sentences made from the files, one line on
convergence and one on the data, a banner when the data are synthetic), then the sections
(:mod:`ww_bayes.report.sections`) behind collapsible headings. Every word a reader sees comes from the label
catalogue (:mod:`ww_bayes.labels`); code names appear only inside ``<code>`` (file names, the glossary).
Figures are embedded, so the file needs nothing beside it.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ww_bayes import __version__
from ww_bayes.data.io import atomic_write
from ww_bayes.kinds.protocol import Block, Heading, Paragraph, Plot, Table
from ww_bayes.labels import Words, glossary
from ww_bayes.report.sections import sections
from ww_bayes.report.summary import convergence_line, provenance_line, sentences, synthetic_origin
from ww_bayes.results import RunFiles, collect
from ww_bayes.viz import draw

if TYPE_CHECKING:  # jinja2 is imported where a report is built, so other commands do not pay for it
    import jinja2
    from markupsafe import Markup

TEMPLATES = Path(__file__).with_name("templates")
#: Dots per inch of the embedded figures: sharp at the page's width without a heavy file.
EMBED_DPI = 150
#: Columns whose values are labels the catalogue translates.
LABEL_COLUMNS = ("contrast", "level", "group", "outcome", "arm", "estimand", "quantity", "category", "state")
_INTERVAL_COLUMN = re.compile(r"^(?:(posterior|frequentist)_)?(eti|hdi|ci)(\d+)_(lb|ub)$")


class ReportError(ValueError):
    """The results folder holds nothing a report can be made of."""


def column_words(name: str, words: Words) -> str:
    """A table header in words: the catalogue's, or an interval's kind, probability and end."""
    match = _INTERVAL_COLUMN.match(str(name))
    if match:
        source, kind, percent, end = match.groups()
        end_words = words.say("lower", "onder") if end == "lb" else words.say("upper", "boven")
        prob = int(percent) / 100
        if kind == "ci":
            interval = words.say(f"{percent}% confidence interval", f"{percent}%-betrouwbaarheidsinterval")
        else:
            interval = words.interval(kind, prob)
        sources = {
            "posterior": ("posterior, ", "posterior, "),
            "frequentist": ("frequentist, ", "frequentistisch, "),
        }
        prefix = words.say(*sources[source]) if source else ""
        return f"{prefix}{interval}: {end_words}"
    known = words(name)
    return known if known != str(name) else str(name).replace("_", " ")


def inline_html(text: str) -> Markup:
    """Text with `backquoted` code names as ``<code>`` (everything else escaped)."""
    from markupsafe import Markup

    parts = str(text).split("`")
    return Markup("".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                          for i, p in enumerate(parts)))  # fmt: skip


def _cell(value, column: str, table: Table, words: Words) -> str:
    if column in table.code_columns:
        return f"<code>{html.escape(str(value))}</code>"
    if isinstance(value, (bool, np.bool_)):
        return words.say("yes", "ja") if value else words.say("no", "nee")
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return ""
        if str(column).startswith("prob_") or str(column).endswith("_prob"):
            return words.percent(float(value))
        return html.escape(words.number(float(value), table.digits))
    if isinstance(value, (int, np.integer)):
        return html.escape(words.number(float(value), 0))
    if column in LABEL_COLUMNS:
        return html.escape(words(value))
    return str(inline_html(str(value)))


def table_html(table: Table, words: Words) -> Markup:
    """A table in words: headers and label values from the catalogue, numbers in the language's format,
    probabilities as percentages, code columns as ``<code>``."""
    from markupsafe import Markup

    frame = table.frame
    head = "".join(f"<th>{html.escape(column_words(c, words))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = "".join(
            f"<td>{_cell(v, c, table, words)}</td>" for c, v in zip(frame.columns, record, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _png_data(plot: Plot, words: Words) -> str:
    figure = draw(plot, words.lang)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=EMBED_DPI)
    finally:
        plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _renderable(block: Block, words: Words) -> dict:
    """A block as the template reads it: its type and its content (tables as HTML, figures as PNG data)."""
    if isinstance(block, Heading):
        return {"type": "heading", "text": inline_html(block.text)}
    if isinstance(block, Paragraph):
        return {"type": "paragraph", "text": inline_html(block.text), "style": block.style}
    if isinstance(block, Table):
        return {"type": "table", "html": table_html(block, words), "collapsed": block.collapsed}
    if isinstance(block, Plot):
        plain = str(block.caption).replace("`", "")
        return {
            "type": "figure",
            "src": _png_data(block, words),
            "caption": inline_html(block.caption),
            "alt": plain,
        }
    raise TypeError(f"not a report block: {block!r}")


def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )


def build_report(results_dir: str | os.PathLike, run: RunFiles | None = None, lang: str = "en") -> str:
    """The report of the run in ``results_dir`` (a results folder or a release folder) as one HTML string
    (figures embedded), in ``lang`` ("en" or "nl"); ``run``: its files, when already read
    (:func:`ww_bayes.results.collect`). Unreadable files are listed, not fatal."""
    words = Words(lang)
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
        {
            "anchor": s.anchor,
            "title": words.say(*s.title),
            "blocks": [_renderable(b, words) for b in s.build(run, words)],
        }
        for s in sections()
    ]
    convergence, converged = convergence_line(run, words)
    terms = pd.DataFrame(glossary(lang), columns=["code", "words"])
    template = _environment().get_template("report.html.j2")
    return template.render(
        lang=lang,
        title=words.say(
            "Personal job-search services for WW claimants: what works, for whom and when",
            "Persoonlijke dienstverlening voor WW-gerechtigden: wat werkt, voor wie en wanneer",
        ),
        sentences=[{"anchor": s.anchor, "text": s.text, "found": s.found} for s in sentences(run, words)],
        itt=words.say(
            "Effects are intention-to-treat effects of being offered the service (whether or not a "
            "claimant took it up), from a randomised experiment; ranges are 90% credible intervals.",
            "Effecten zijn intention-to-treat-effecten van het aanbieden van de dienstverlening "
            "(of iemand er gebruik van maakte of niet), uit een gerandomiseerd experiment; "
            "bandbreedtes zijn 90%-geloofwaardigheidsintervallen.",
        ),  # fmt: skip
        synthetic=synthetic_origin(run),
        synthetic_text=words.say(
            "SYNTHETIC DATA: a simulated cohort calibrated to the published figures, not real claimants.",
            "SYNTHETISCHE GEGEVENS: een gesimuleerd cohort, afgestemd op de gepubliceerde "
            "cijfers, geen echte WW-gerechtigden.",
        ),  # fmt: skip
        convergence=inline_html(convergence),
        converged=converged,
        provenance=provenance_line(run, words),
        sections=rendered,
        details=words.say("Details", "Details"),
        glossary_title=words.say(
            "Glossary: the names in the files", "Woordenlijst: de namen in de bestanden"
        ),
        glossary=table_html(Table(terms, code_columns=("code",)), words),
        made=words.say(
            f"Made {datetime.now(UTC).isoformat(timespec='seconds')} by ww-bayes {__version__}",
            f"Gemaakt {datetime.now(UTC).isoformat(timespec='seconds')} met ww-bayes {__version__}",
        ),
        folder=folder.name,
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
    )


def write_report(
    results_dir: str | os.PathLike, out: str | os.PathLike, run: RunFiles | None = None, lang: str = "en"
) -> Path:
    """Build the report of ``results_dir`` and write it to ``out`` atomically."""
    page = build_report(results_dir, run, lang)
    return atomic_write(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))


__all__ = ["ReportError", "build_report", "column_words", "sections", "table_html", "write_report"]
