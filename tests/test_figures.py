"""Every figure ww_bayes draws, held to the rules of a note (:mod:`ww_bayes.viz.style`): no text under 8 pt
at 16 cm wide, no legend over data, no text over text, tick labels inside their panel's column, colours
from the Okabe-Ito palette, words instead of code names, intervals that say their kind and probability,
written as a 300 dpi PNG and an SVG under one name. Each measure is shown to catch a figure broken on
purpose. The tables are made here (small and deterministic): a figure is a thin reader of its table, so
its data are checked against the table, not its pixels."""

from __future__ import annotations

import itertools
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.colors import to_rgb
from matplotlib.legend import Legend
from PIL import Image

from ww_bayes.calibration.sbc import uniformity
from ww_bayes.checks import pit_tests
from ww_bayes.data.schema import CONTRASTS, REGIONS_NL, WERKVERKENNER_CLASSES
from ww_bayes.derived import OVERALL, flat_name
from ww_bayes.kinds import KINDS
from ww_bayes.labels import Words
from ww_bayes.viz import (
    CEA_FIGURES,
    cea_figure,
    destinations_plot,
    effects_plot,
    figure_name,
    forest_data,
    forest_plot,
    kfold_plot,
    loo_pit_plot,
    prior_predictive_plot,
    rank_plot,
    save_figure,
    trajectory_data,
    trajectory_plot,
)
from ww_bayes.viz.calibration import ecdf_figure, rank_histograms
from ww_bayes.viz.style import (
    CLASS_COLOURS,
    DPI,
    MIN_TEXT_PT,
    OKABE_ITO,
    WIDTH_IN,
    colours_used,
    legends_over_data,
    overlapping_texts,
    shown_texts,
    smallest_text_pt,
    tick_labels_outside_column,
)

matplotlib.use("Agg")

CLASSES = list(WERKVERKENNER_CLASSES)
CONTRAST_NAMES = list(CONTRASTS)
LEVELS = {"by_werkverkenner": CLASSES, "by_region": list(REGIONS_NL)}


# --- the tables the figures read ----------------------------------------------------------------------------


def subgroup_rows(rng: np.random.Generator) -> pd.DataFrame:
    """Effects (pp) of every contrast, overall and by class and region, with a 90% interval."""
    rows = []
    for contrast in CONTRAST_NAMES:
        groups = [("overall", "all")] + [(level, g) for level, names in LEVELS.items() for g in names]
        for level, group in groups:
            mean = rng.normal(1.5, 2)
            half = rng.uniform(0.5, 3)
            rows.append((contrast, level, group, mean, mean - half, mean + half))
    table = pd.DataFrame(rows, columns=["contrast", "level", "group", "mean", "eti90_lb", "eti90_ub"])
    table["pooling_only"] = (table["group"] == "75-100") & (table["contrast"] == "enforcement_vs_none")
    return table


@pytest.fixture(scope="module")
def effects_summary() -> pd.DataFrame:
    table = subgroup_rows(np.random.default_rng(1))
    return table.assign(estimand="effect_pp", outcome="employed_m12")


@pytest.fixture(scope="module")
def comparison() -> pd.DataFrame:
    """A table as :func:`ww_bayes.compare.compare` gives it."""
    rng = np.random.default_rng(2)
    posterior = subgroup_rows(rng)
    table = posterior.rename(columns={"mean": "posterior_mean", "eti90_lb": "posterior_eti90_lb",
                                      "eti90_ub": "posterior_eti90_ub"})  # fmt: skip
    table["frequentist_estimate"] = table["posterior_mean"] + rng.normal(0, 3, len(table))
    half = rng.uniform(2, 8, len(table))
    table["frequentist_ci90_lb"] = table["frequentist_estimate"] - half
    table["frequentist_ci90_ub"] = table["frequentist_estimate"] + half
    table.attrs.update({"interval_label": "eti90", "outcome": "employed_m12"})
    return table


@pytest.fixture(scope="module")
def paths_summary() -> pd.DataFrame:
    """A trajectory summary: effect paths (pp) of two outcomes over 30 months, overall and by class."""
    rng = np.random.default_rng(3)
    rows = []
    for outcome, contrast in itertools.product(("employed", "ww"), CONTRAST_NAMES):
        for level, group in [("overall", "all")] + [("by_werkverkenner", c) for c in CLASSES]:
            path = np.cumsum(rng.normal(0, 0.4, 30))
            half = rng.uniform(0.5, 2.5)
            flagged = group == "75-100" and contrast == "enforcement_vs_none"
            rows += [("effect_pp", outcome, contrast, level, group, month, value, value - half, value + half,
                      flagged) for month, value in enumerate(path, start=1)]  # fmt: skip
    columns = ["estimand", "outcome", "contrast", "level", "group", "month", "mean", "eti90_lb", "eti90_ub",
               "pooling_only"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


@pytest.fixture(scope="module")
def destinations_summary() -> pd.DataFrame:
    """A destinations summary at month 12: the WW effect and the effects on each state's share, which add
    up to minus it, overall and by class."""
    rng = np.random.default_rng(6)
    states = ["ww_working", "ww_not_working", "none_working", "none_not_working", "zw", "bijstand", "other"]
    rows = []
    for contrast in CONTRAST_NAMES:
        for level, group in [("overall", "all")] + [("by_werkverkenner", c) for c in CLASSES]:
            shares = rng.normal(0, 0.8, len(states))
            rows.append(("ww_source_pp", contrast, level, group, 12, "", shares[:2].sum()))
            rows += [("share_pp", contrast, level, group, 12, state, value)
                     for state, value in zip(states, shares, strict=True)]  # fmt: skip
    table = pd.DataFrame(rows, columns=["estimand", "contrast", "level", "group", "month", "state", "mean"])
    half = rng.uniform(0.3, 1.5, len(table))
    return table.assign(eti90_lb=table["mean"] - half, eti90_ub=table["mean"] + half)


@pytest.fixture(scope="module")
def model_checks() -> dict:
    """What the model-check figures read: LOO-PIT values of 200 cells labelled by class, posterior draws
    of three top-level parameters (4 chains), a K-fold study of the three pooling variants."""
    rng = np.random.default_rng(7)
    pit = xr.DataArray(rng.uniform(size=200), dims="cell",
                       coords={"werkverkenner": ("cell", np.resize(CLASSES, 200))})  # fmt: skip
    names = ["service_mean", "enforcement_mean", "service_sd_werkverkenner"]
    posterior = xr.Dataset({n: (("chain", "draw"), rng.normal(size=(4, 250))) for n in names})
    kfold = pd.DataFrame({"variant": ["partial", "none", "full"], "elpd_kfold": [-9000.0, -9010.0, -9040.0],
                          "elpd_kfold_se": [40.0, 41.0, 42.0], "elpd_difference": [0.0, -10.0, -40.0],
                          "elpd_difference_se": [0.0, 4.0, 9.0]})  # fmt: skip
    contrasts = {"contrast": CONTRAST_NAMES}
    prior = xr.Dataset(
        {
            "prior_predictive_employed": (("prior_draw", "cell"), rng.beta(2, 2, size=(100, 50))),
            "observed_employed": ("cell", rng.beta(20, 12, size=50)),
            "prior_effect_pp": (("prior_draw", "contrast"), rng.normal(0, 10, size=(100, 3))),
            "posterior_effect_pp": (("sample", "contrast"), rng.normal(2, 0.4, size=(400, 3))),
        },
        coords=contrasts,
    )
    return {"pit": pit, "posterior": posterior, "kfold": kfold, "prior": prior}


@pytest.fixture(scope="module")
def cea_result() -> xr.Dataset:
    """The variables of a ``cost_effectiveness`` group the figures read."""
    rng = np.random.default_rng(4)
    draws = {"chain": [0, 1], "draw": np.arange(200)}
    wtp = np.linspace(0, 5000, 41)
    effect = rng.normal(0.2, 0.15, (2, 200))
    net_cost = rng.normal(200, 250, (2, 200))
    inb = wtp[:, None, None] * effect - net_cost
    inputs = [f"service_cost[{c}]" for c in CLASSES] + ["ww_benefit_monthly", "earnings_monthly", "tax_share"]
    base = float(-net_cost.mean())
    return xr.Dataset(
        {
            "extra_employed_months": (("chain", "draw"), effect),
            "net_cost": (("chain", "draw"), net_cost),
            "net_benefit": (("chain", "draw"), -net_cost),
            "ceac": ("willingness_to_pay", (inb > 0).mean(axis=(1, 2))),
            "expected_incremental_benefit": ("willingness_to_pay", inb.mean(axis=(1, 2))),
            "evpi": ("willingness_to_pay", np.maximum(inb, 0).mean(axis=(1, 2))
                     - np.maximum(inb.mean(axis=(1, 2)), 0)),
            "break_even_wtp": float(net_cost.mean() / effect.mean()),
            "tornado_net_benefit_at_q05": ("input", base - rng.uniform(5, 50, len(inputs))),
            "tornado_net_benefit_at_q95": ("input", base + rng.uniform(5, 50, len(inputs))),
            "net_benefit_by_class": (("chain", "draw", "werkverkenner"), rng.normal(-100, 300, (2, 200, 5))),
        },
        coords={**draws, "willingness_to_pay": wtp, "input": inputs, "werkverkenner": CLASSES},
        attrs={"contrast": "service_vs_control_enforcement", "best_rule": "50-75+75-100",
               "synthetic_data": SYNTHETIC},
    )  # fmt: skip


@pytest.fixture(scope="module")
def calibration_study():
    """PIT values and ranks of a small calibration study of the headline quantities, and its band."""
    rng = np.random.default_rng(5)
    replicates, contrasts = 60, {"contrast": CONTRAST_NAMES}
    names = ["service_mean", "enforcement_mean", "service_sd_werkverkenner", "service_sd_region"]
    pit = xr.Dataset({n: ("replicate", rng.uniform(size=replicates)) for n in names})
    pit[flat_name("effect_pp", OVERALL)] = (("replicate", "contrast"), rng.uniform(size=(replicates, 3)))
    pit = pit.assign_coords(contrasts)
    ranks = (pit * 100).round().astype(int)
    _, band = uniformity(pit, alpha=0.05)
    return pit, ranks, band


#: A fit's ``synthetic_data`` attribute when its cohort was simulated ("no" for real data).
SYNTHETIC = "ww-bayes simulate --n 1000 --seed 1"

# every figure function, as a reader of its table, in either language
FIGURES = {
    "effects": lambda t, lang: effects_plot(t["effects"], "eti90", lang=lang, origin=SYNTHETIC),
    "forest": lambda t, lang: forest_plot(t["comparison"], lang=lang, origin="no"),
    "paths_employed": lambda t, lang: trajectory_plot(
        t["paths"], "eti90", outcome="employed", lang=lang, origin=SYNTHETIC
    ),
    "paths_ww": lambda t, lang: trajectory_plot(t["paths"], "eti90", outcome="ww", lang=lang, origin="no"),
    "destinations": lambda t, lang: destinations_plot(
        t["destinations"], "eti90", lang=lang, origin=SYNTHETIC
    ),
    **{f"cea_{n}": (lambda t, lang, n=n: cea_figure(t["cea"], n, lang=lang)) for n in CEA_FIGURES},
    "loo_pit": lambda t, lang: loo_pit_plot(
        t["pit"], pit_tests(t["pit"]), "werkverkenner", lang=lang, origin=SYNTHETIC
    ),
    "rank": lambda t, lang: rank_plot(t["posterior"], lang=lang, origin="no"),
    "kfold": lambda t, lang: kfold_plot(t["kfold"], lang=lang, origin=SYNTHETIC),
    "prior_predictive": lambda t, lang: prior_predictive_plot(t["prior"], lang=lang, origin=SYNTHETIC),
    "sbc_ecdf": lambda t, lang: ecdf_figure(t["sbc"][0], t["sbc"][2], "SBC job_finding_12m", lang=lang),
    "sbc_ranks": lambda t, lang: rank_histograms(t["sbc"][1], 100, "SBC job_finding_12m", lang=lang),
}
#: Figures for analysts: their panels are named by the quantities' code names.
ANALYST_FIGURES = {"sbc_ecdf", "sbc_ranks", "loo_pit", "rank", "kfold", "prior_predictive"}
#: Figures that draw intervals, so their legend or labels must say which.
WITH_INTERVALS = {
    "effects",
    "forest",
    "paths_employed",
    "paths_ww",
    "cea_net_benefit_by_class",
    "destinations",
}


@pytest.fixture(scope="module")
def tables(effects_summary, comparison, paths_summary, destinations_summary, cea_result, calibration_study,
           model_checks):  # fmt: skip
    return {"effects": effects_summary, "comparison": comparison, "paths": paths_summary, "cea": cea_result,
            "sbc": calibration_study, "destinations": destinations_summary, **model_checks}  # fmt: skip


#: The units a figure's axes state: effects in percentage points, money in euros.
UNITS = {"en": r"percentage points|€", "nl": r"procentpunt|€"}
#: Words only one of the languages uses: a figure in the other must not show them.
OTHER_LANGUAGE = {"en": ("procentpunt", "maand", "kans", "gegevens", "geloofwaardigheid"),
                  "nl": ("percentage point", "month", "probability", "data", "credible")}  # fmt: skip

INTERVAL_WORDS = {
    "en": r"\d+% (credible interval \((equal-tailed|highest density)\)|confidence interval)",
    "nl": r"\d+% (geloofwaardigheidsinterval \((gelijkstaartig|hoogste dichtheid)\)"
    r"|betrouwbaarheidsinterval)",
}


@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_follows_the_rules_of_a_note(name, lang, tables):
    figure = FIGURES[name](tables, lang)
    assert figure.get_figwidth() == pytest.approx(WIDTH_IN)
    assert smallest_text_pt(figure) >= MIN_TEXT_PT
    assert legends_over_data(figure) == []
    assert overlapping_texts(figure) == []
    assert tick_labels_outside_column(figure) == []
    assert colours_used(figure) <= set(OKABE_ITO.values())
    texts = [t.get_text() for t in shown_texts(figure)]
    if name not in ANALYST_FIGURES:
        assert not [t for t in texts if re.search(r"[a-z]+_[a-z0-9_]+", t)]  # words, not code names
    intervals = [t for t in texts if "interval" in t]
    assert all(re.search(INTERVAL_WORDS[lang], t) for t in intervals), intervals
    if name in WITH_INTERVALS:
        assert intervals, f"{name} draws intervals but says nowhere which"
    if name not in ANALYST_FIGURES:  # the calibration figures' quantities have no unit
        assert any(re.search(UNITS[lang], t) for t in texts), f"{name} says nowhere in what unit"
    words = Words(lang)
    origins = {words.origin(o) for o in (SYNTHETIC, "no", "simulated from the prior")}
    lines = [" ".join(t.split()) for t in texts]  # a wrapped line read as one
    assert [o for o in origins if any(o in t for t in lines)], f"{name} does not say where its data are from"
    assert not [t for t in texts if any(w in t for w in OTHER_LANGUAGE[lang])], "words of the other language"
    matplotlib.pyplot.close(figure)


# --- each measure catches a figure broken on purpose -------------------------------------------------------


def test_a_figure_drawn_twice_as_wide_has_text_too_small_at_16_cm(tables):
    figure = FIGURES["cea_ceac"](tables, "en")
    assert smallest_text_pt(figure) >= MIN_TEXT_PT
    figure.set_size_inches(2 * WIDTH_IN, figure.get_figheight())  # the old 12.6-inch figures
    assert smallest_text_pt(figure) == pytest.approx(4.0)


def test_a_legend_placed_over_the_data_is_caught(tables):
    figure = FIGURES["cea_ce_plane"](tables, "en")
    assert legends_over_data(figure) == []
    figure.axes[0].legend(loc="center")
    assert legends_over_data(figure)


def test_subgroup_names_running_into_the_next_panel_are_caught(tables):
    figure = FIGURES["forest"](tables, "en")
    assert tick_labels_outside_column(figure) == []
    figure.set_layout_engine("none")  # the panels stay where they are, as in a fixed layout
    for middle in figure.axes[1::3]:  # names at the middle column too, as three separate panels
        middle.tick_params(labelleft=True)
    assert any("Stedendriehoek" in problem for problem in tick_labels_outside_column(figure))


def test_titles_running_into_each_other_are_caught(tables):
    figure = FIGURES["paths_ww"](tables, "en")
    (column,) = figure.axes[0].texts  # the column's name, placed above the row's name
    column.xyann = (0, 2)  # ... brought down onto it
    assert overlapping_texts(figure)


def test_a_colour_from_outside_the_palette_is_caught(tables):
    figure = FIGURES["cea_ceac"](tables, "en")
    figure.axes[0].plot([0, 1000], [0.2, 0.8], color="#d62728")  # matplotlib's red
    assert colours_used(figure) - set(OKABE_ITO.values()) == {"#d62728"}


# --- colours for the colour-blind --------------------------------------------------------------------------

# Machado, Oliveira & Fernandes (2009): deuteranopia (severity 1) on linear RGB
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])  # fmt: skip


def lab_as_seen(colour: str, vision: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour as seen through ``vision`` (a matrix on linear RGB)."""
    rgb = np.asarray(to_rgb(colour))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    t = xyz @ np.clip(vision @ linear, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def closest_pair(colours, vision) -> float:
    """The smallest colour difference (CIE76 delta E) between two of ``colours`` as seen."""
    return min(np.linalg.norm(lab_as_seen(a, vision) - lab_as_seen(b, vision))
               for a, b in itertools.combinations(colours, 2))  # fmt: skip


def test_class_colours_stay_apart_for_deuteranopes():
    assert closest_pair(CLASS_COLOURS, DEUTERANOPIA) > 15
    assert closest_pair(CLASS_COLOURS, np.eye(3)) > 15
    # matplotlib's default red and green (the class colours before) collapse into one
    assert closest_pair(("#d62728", "#ff7f0e", "#2ca02c", "#17becf", "#9467bd"), DEUTERANOPIA) < 8


# --- written for print --------------------------------------------------------------------------------------


def print_problems(png, svg, dpi: int = DPI) -> list[str]:
    """What keeps the written files from a note: a PNG not at ``dpi`` or not 16 cm wide at it, an SVG that
    is not one or that carries a date."""
    problems = []
    with Image.open(png) as image:
        if tuple(round(d) for d in image.info.get("dpi", (0, 0))) != (dpi, dpi):
            problems.append(f"{png.name}: {image.info.get('dpi')} dpi")
        if abs(image.width - WIDTH_IN * dpi) > 2:
            problems.append(f"{png.name}: {image.width} pixels wide")
    text = svg.read_text(encoding="utf-8")
    if "<svg" not in text or "<dc:date>" in text:
        problems.append(f"{svg.name}: not an SVG without a date")
    return problems


def test_save_figure_writes_a_300_dpi_png_and_an_svg_under_one_name(tables, tmp_path):
    png, svg = save_figure(FIGURES["cea_eib"](tables, "en"), tmp_path / "cea_eib")
    assert (png.name, svg.name) == ("cea_eib.png", "cea_eib.svg")
    assert print_problems(png, svg) == []
    again = save_figure(FIGURES["cea_eib"](tables, "en"), tmp_path / "again")
    assert again[1].read_bytes() == svg.read_bytes()  # the same figure, the same SVG
    problems = print_problems(*save_figure(FIGURES["cea_eib"](tables, "en"), tmp_path / "low", dpi=110))
    assert len(problems) == 2 and "dpi" in problems[0] and "pixels wide" in problems[1]  # caught
    written = {p.name for p in tmp_path.iterdir()} - {".ww_bayes.lock"}  # no temporary file left
    assert written == {f"{stem}.{end}" for stem in ("cea_eib", "again", "low") for end in ("png", "svg")}


def test_one_file_name_per_figure_wherever_it_is_written(paths_summary):
    """A figure of a fit has the same name beside the fit (``fit_plots``) as in the release (the kind's
    report blocks): the trajectory's paths, one figure per outcome."""
    kind = KINDS["trajectory"]
    tree = xr.DataTree()
    written = [figure_name(plot, "trajectory_30m") for plot in kind.fit_plots(tree, paths_summary, None)]
    blocks = kind.report_blocks("t", tree, paths_summary, Words("en"))
    released = [figure_name(block, "trajectory_30m") for block in blocks if type(block).__name__ == "Plot"]
    assert written == released == ["trajectory_30m_paths_employed", "trajectory_30m_paths_ww"]


# --- the data behind the figures ----------------------------------------------------------------------------


def test_trajectory_classes_are_small_multiples_of_the_table(paths_summary):
    figure = trajectory_plot(paths_summary, "eti90", outcome="ww")
    panels = {ax.get_gid(): ax for ax in figure.axes}
    assert len(panels) == 3 * (1 + len(CLASSES))  # a column per contrast, a row for all and per class
    for gid, ax in panels.items():
        contrast, group = gid.split(".")
        data = trajectory_data(paths_summary, "ww", contrast, group)
        own = ax.get_lines()[1 if group != "all" else 0]  # class panels draw the overall path first
        np.testing.assert_allclose(own.get_ydata(), data["mean"])
        assert [t.get_text() for t in ax.get_xticklabels() if t.get_visible()]  # every panel has its months
    shared = figure.axes[0].get_shared_y_axes()
    assert all(shared.joined(figure.axes[0], ax) for ax in figure.axes)  # one scale for every panel


def test_forest_draws_the_tables_estimates_and_90_percent_intervals(comparison):
    words = Words("nl")
    figure = forest_plot(comparison, lang="nl")
    assert len(figure.axes) == 3 * 2  # contrasts x (classes, regions)
    for ax in figure.axes:
        contrast, level = ax.get_gid().split(".")
        data = forest_data(comparison, contrast, level)
        unpooled, pooled = ax.containers
        bars = np.array([segment[:, 0] for segment in unpooled.lines[2][0].get_segments()])
        np.testing.assert_allclose(bars, data[["frequentist_ci90_lb", "frequentist_ci90_ub"]].to_numpy())
        np.testing.assert_allclose(np.asarray(pooled.lines[0].get_xdata(), float), data["posterior_mean"])
        named = (
            ax
            if contrast == CONTRAST_NAMES[0]
            else next(  # a row's names stand at its first panel
                a for a in figure.axes if a.get_gid() == f"{CONTRAST_NAMES[0]}.{level}"
            )
        )
        assert [t.get_text() for t in named.get_yticklabels()] == [words(g) for g in data["group"]]
    legend = [t.get_text() for legend in figure.findobj(Legend) for t in legend.get_texts()]
    assert any("90% betrouwbaarheidsinterval" in t for t in legend)
    assert any("90% geloofwaardigheidsinterval (gelijkstaartig)" in t for t in legend)
    assert "geen score" in [t.get_text() for t in figure.axes[0].get_yticklabels()]
