"""The rules every figure follows: one width, one palette, one way to save, and the measures that check them.

A figure is drawn at the width of a note's text column, 16 cm (:data:`WIDTH_IN`), with no text smaller than
8 pt at that width (:data:`RC`), so it can be placed at 100% without shrinking its words. Colours come from
Okabe and Ito's palette, which stays distinguishable for the colour-blind (:data:`OKABE_ITO`). Every figure
is written by :func:`save_figure`: a 300 dpi PNG and an SVG under one file name.

The measures (:func:`smallest_text_pt`, :func:`legends_over_data`, :func:`tick_labels_outside_column`,
:func:`colours_used`) read a drawn figure's artists and their bounding boxes, so a test holds every figure
function to the rules without looking at pixels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.colors import to_hex, to_rgba_array
from matplotlib.figure import Figure, SubFigure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from ww_bayes.data.io import atomic_paths

#: The width a figure is drawn at and meant to be shown at: a note's text column.
WIDTH_CM = 16.0
WIDTH_IN = WIDTH_CM / 2.54
#: No text smaller than this (points) when the figure is shown :data:`WIDTH_CM` wide.
MIN_TEXT_PT = 8.0
#: Dots per inch of the PNG (the SVG is vector).
DPI = 300

#: Okabe & Ito (2008), "Color Universal Design", with the grey of R's ``palette.colors("Okabe-Ito")``.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#e69f00",
    "sky_blue": "#56b4e9",
    "bluish_green": "#009e73",
    "yellow": "#f0e442",
    "blue": "#0072b2",
    "vermillion": "#d55e00",
    "reddish_purple": "#cc79a7",
    "grey": "#999999",
}
#: What each colour means in every figure.
POSTERIOR = OKABE_ITO["blue"]
FREQUENTIST = OKABE_ITO["orange"]
FLAGGED = OKABE_ITO["vermillion"]
REFERENCE = OKABE_ITO["grey"]
TRUTH = OKABE_ITO["black"]
#: One colour per Werkverkenner class (in table order), distinct from each other under deuteranopia.
CLASS_COLOURS = (
    OKABE_ITO["vermillion"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["reddish_purple"],
)

#: Font sizes (points) and defaults the figures are drawn with: smallest 8 pt at :data:`WIDTH_IN`.
RC = {
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "figure.titlesize": 10,
    "figure.labelsize": 8.5,
    "axes.prop_cycle": plt.cycler(color=[OKABE_ITO[c] for c in ("blue", "orange", "bluish_green",
                                                                 "vermillion", "reddish_purple")]),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "ww_bayes",  # SVG element ids the same on every run
}  # fmt: skip


@contextmanager
def drawing() -> Iterator[None]:
    """The rules' defaults (:data:`RC`) while a figure is built; the caller's matplotlib settings are
    left as they were."""
    with plt.rc_context(RC):
        yield


def new_figure(height_in: float, rows: int = 1, columns: int = 1, **subplots) -> tuple[Figure, list]:
    """A figure :data:`WIDTH_IN` wide and ``height_in`` tall with a grid of axes (a list of rows), laid out
    by matplotlib's constrained layout (titles, labels and legends outside the panels get their room)."""
    figure, axes = plt.subplots(
        rows, columns, figsize=(WIDTH_IN, height_in), squeeze=False, layout="constrained", **subplots
    )
    return figure, [list(row) for row in axes]


def blank_figure(height_in: float) -> Figure:
    """A figure :data:`WIDTH_IN` wide and ``height_in`` tall without axes (for subfigures), laid out by
    matplotlib's constrained layout."""
    return plt.figure(figsize=(WIDTH_IN, height_in), layout="constrained")


def finish(figure: Figure) -> Figure:
    """Fix the tick label size on every axes (ticks made at drawing time would otherwise take the
    caller's defaults) and return the figure."""
    for ax in figure.axes:
        ax.tick_params(labelsize=RC["xtick.labelsize"])
    return figure


def legend_columns(labels: list[str], most: int = 2) -> int:
    """How many legend columns fit side by side at :data:`WIDTH_IN` (an 8 pt character is about 0.07
    inches, a column's marker and gaps half an inch)."""
    longest = max(map(len, labels), default=0)
    for columns in range(most, 1, -1):
        if columns * (0.07 * longest + 0.5) <= WIDTH_IN:
            return columns
    return 1


def legend_below(figure: Figure, handles: list, labels: list[str]) -> None:
    """One legend for a figure of one panel row, below the panels (never over the data)."""
    if handles:
        figure.legend(
            handles, labels, loc="outside lower center", ncols=legend_columns(labels), frameon=False
        )


def with_legend_foot(height_in: float, labels: list[str]) -> tuple[Figure, SubFigure, SubFigure]:
    """A figure of a body (``height_in`` tall, for panels, their shared labels and title) above a foot
    that holds the legend of ``labels`` (:func:`legend_in_foot`), so figure-wide axis labels and the legend
    each keep their own room. Returns (figure, body, foot)."""
    foot_in = 0.19 * -(-len(labels) // legend_columns(labels)) + 0.12
    figure = blank_figure(height_in + foot_in)
    body, foot = figure.subfigures(2, 1, height_ratios=[height_in, foot_in])
    return figure, body, foot


def legend_in_foot(foot: SubFigure, handles: list, labels: list[str]) -> None:
    """The legend of a :func:`with_legend_foot` figure, centred in its foot."""
    foot.legend(handles, labels, loc="center", ncols=legend_columns(labels), frameon=False)


def save_figure(figure: Figure, path_without_suffix: str | os.PathLike, dpi: int = DPI) -> tuple[Path, Path]:
    """Write ``figure`` as ``<path>.png`` (``dpi``) and ``<path>.svg``, both or neither (atomically), and
    close it. Returns (png path, svg path). The SVG carries no date, so the same figure gives the same
    file."""
    png, svg = Path(f"{os.fspath(path_without_suffix)}.png"), Path(f"{os.fspath(path_without_suffix)}.svg")
    try:
        with (
            atomic_paths(png, svg) as (png_tmp, svg_tmp),
            plt.rc_context({"svg.hashsalt": RC["svg.hashsalt"]}),
        ):
            figure.savefig(png_tmp, dpi=dpi, format="png")
            figure.savefig(svg_tmp, format="svg", metadata={"Date": None})
    finally:
        plt.close(figure)
    return png, svg


def save_png(figure: Figure, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Write ``figure`` as a PNG only (``dpi``), atomically, and close it: for a folder whose every file is
    checked (a release), where an SVG's text would be a file no check reads."""
    path = Path(path)
    try:
        with atomic_paths(path) as (tmp,):
            figure.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(figure)
    return path


# --- the measures ------------------------------------------------------------------------------------------


def _drawn(figure: Figure):
    """A renderer after laying the figure out (tick labels and legends get their final place)."""
    figure.draw_without_rendering()
    return figure.canvas.get_renderer()


def shown_texts(figure: Figure) -> list[Text]:
    """Every text a reader sees: visible, not empty, tick labels only for ticks inside the view."""
    _drawn(figure)
    hidden = set()
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 * abs(high - low) <= tick.get_loc() <= high + 1e-9 * abs(high - low):
                    hidden.update({id(tick.label1), id(tick.label2)})
    return [
        t for t in figure.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in hidden and _shown_parent(t)
    ]  # fmt: skip


def _shown_parent(artist: Artist) -> bool:
    """Whether the axes an artist belongs to is shown (a hidden spare panel hides its texts)."""
    ax = artist.axes
    return ax is None or ax.get_visible()


def smallest_text_pt(figure: Figure, width_cm: float = WIDTH_CM) -> float:
    """The smallest font size (points) of the figure's shown texts when it is shown ``width_cm`` wide."""
    scale = width_cm / 2.54 / figure.get_figwidth()
    return min(t.get_fontsize() for t in shown_texts(figure)) * scale


def data_artists(ax: Axes) -> list[Artist]:
    """What an axes draws from data: lines (reference lines too), collections (bands, scatter, error bars)
    and patches (bars)."""
    return [a for a in (*ax.lines, *ax.collections, *ax.patches) if a.get_visible()]


def _extent(artist: Artist, ax: Axes, renderer) -> Bbox | None:
    """An artist's window extent, clipped to its axes (what is drawn); a collection's from its data
    limits (matplotlib gives scatter points no window extent)."""
    if isinstance(artist, Collection):
        box = artist.get_datalim(ax.transData).transformed(ax.transData)
    else:
        box = artist.get_window_extent(renderer)
    if not all(map(_finite, box.extents)) or box.x1 < box.x0 or box.y1 < box.y0:
        return None
    return Bbox.intersection(box, ax.bbox)


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def _meet(a: Bbox, b: Bbox) -> bool:
    """Whether two boxes share more than an edge point (a flat box, e.g. a horizontal line, counts)."""
    both = Bbox.intersection(a, b)
    return both is not None and max(both.width, both.height) > 0.5


def _overlap(a: Bbox, b: Bbox) -> float:
    """The area (pixels squared) two boxes share."""
    both = Bbox.intersection(a, b)
    return 0.0 if both is None else both.width * both.height


def legends_over_data(figure: Figure) -> list[str]:
    """Every (legend, data artist) pair whose window extents overlap, described; empty when no legend
    covers data."""
    renderer = _drawn(figure)
    legends = figure.findobj(Legend)
    found = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in figure.axes:
            for artist in data_artists(ax):
                extent = _extent(artist, ax, renderer)
                if extent is not None and _meet(box, extent):
                    found.append(f"legend over {type(artist).__name__} {artist.get_label()!r}")
    return found


def overlapping_texts(figure: Figure) -> list[str]:
    """Shown texts that overlap one another (a title running into the next, a label under the legend) or
    leave the figure."""
    renderer = _drawn(figure)
    texts = shown_texts(figure)
    boxes = [t.get_window_extent(renderer) for t in texts]
    whole = figure.bbox
    found = [f"{t.get_text()!r} leaves the figure" for t, box in zip(texts, boxes, strict=True)
             if box.x0 < whole.x0 - 0.5 or box.x1 > whole.x1 + 0.5 or box.y0 < whole.y0 - 0.5
             or box.y1 > whole.y1 + 0.5]  # fmt: skip
    for i, (text, box) in enumerate(zip(texts, boxes, strict=True)):
        for other, other_box in zip(texts[i + 1 :], boxes[i + 1 :], strict=True):
            if _overlap(box, other_box) > 1.0:
                found.append(f"{text.get_text()!r} overlaps {other.get_text()!r}")
    return found


def tick_labels_outside_column(figure: Figure) -> list[str]:
    """Tick labels that leave the figure or run into a neighbouring panel: a panel's column reaches from
    the right edge of the panel to its left to the left edge of the panel to its right (panels that share
    its rows); each label must lie inside its panel's column and inside the figure."""
    renderer = _drawn(figure)
    texts = {id(t) for t in shown_texts(figure)}
    panels = [ax for ax in figure.axes if ax.get_visible()]
    whole = figure.bbox
    found = []
    for ax in panels:
        box = ax.bbox
        beside = [o.bbox for o in panels if o is not ax and min(o.bbox.y1, box.y1) > max(o.bbox.y0, box.y0)]
        left = max([o.x1 for o in beside if o.x1 <= box.x0 + 1], default=whole.x0)
        right = min([o.x0 for o in beside if o.x0 >= box.x1 - 1], default=whole.x1)
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            if id(label) not in texts:
                continue
            extent = label.get_window_extent(renderer)
            if (
                extent.x0 < left - 0.5
                or extent.x1 > right + 0.5
                or extent.y0 < whole.y0 - 0.5
                or (extent.y1 > whole.y1 + 0.5)
            ):
                found.append(f"tick label {label.get_text()!r} outside its column")
    return found


def colours_used(figure: Figure) -> set[str]:
    """The colours (hex, without alpha) the data artists of a figure draw with."""
    colours = set()
    for ax in figure.axes:
        for artist in data_artists(ax):
            for getter in ("get_color", "get_facecolor", "get_edgecolor", "get_markerfacecolor",
                           "get_markeredgecolor"):  # fmt: skip
                if not hasattr(artist, getter):
                    continue
                value = getattr(artist, getter)()
                if isinstance(value, str) and value in ("none", "auto"):
                    continue
                for rgba in to_rgba_array(value):
                    if rgba[3] > 0:
                        colours.add(to_hex(rgba[:3]))
    return colours


__all__ = [
    "CLASS_COLOURS",
    "DPI",
    "FLAGGED",
    "FREQUENTIST",
    "MIN_TEXT_PT",
    "OKABE_ITO",
    "POSTERIOR",
    "RC",
    "REFERENCE",
    "TRUTH",
    "WIDTH_CM",
    "WIDTH_IN",
    "blank_figure",
    "colours_used",
    "data_artists",
    "drawing",
    "finish",
    "legend_below",
    "legend_columns",
    "legend_in_foot",
    "legends_over_data",
    "new_figure",
    "overlapping_texts",
    "save_figure",
    "save_png",
    "shown_texts",
    "smallest_text_pt",
    "tick_labels_outside_column",
    "with_legend_foot",
]
