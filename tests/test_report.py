"""The HTML report of a full run: every section and figure present, numbers read from the files, nothing
outside the page, no person rows; and it renders in headless Chromium (screenshot not blank, no broken
images).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import pytest

from ww_bayes.cli import main
from ww_bayes.data.io import write_cohort
from ww_bayes.kinds.effects import effects_summary
from ww_bayes.kinds.protocol import Plot
from ww_bayes.labels import Words
from ww_bayes.report import build_report, sections
from ww_bayes.results import collect
from ww_bayes.results import save_fit as save
from ww_bayes.viz import draw
from ww_bayes.viz.style import shown_texts

MODELS = Path(__file__).resolve().parents[1] / "models"
#: Figures of a full run's results: effects and forest plot per 12-month fit, the trajectory paths of its two
#: outcomes, five CEA figures.
EXPECTED_FIGURES = 2 + 2 + 2 + 5
#: The model checks' figures of the full run's report: a rank plot per fit, and with --data for each
#: 12-month fit on its cohort LOO-PIT by class and by region and the prior's predictions (the trajectory's
#: fit is of another cohort: not checked).
CHECK_FIGURES = {"report.html": 3 + 2 * (2 + 1), "report_nl.html": 3}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
IMAGE_PROBE = """<script>window.addEventListener('load', () => {
  const images = [...document.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
  const out = document.createElement('pre'); out.id = 'image-probe';
  out.textContent = 'images=' + images.length + ' broken=' + broken;
  document.body.appendChild(out);
});</script>"""


@pytest.fixture(scope="module")
def full_run(full_fits, full_cohort, small_trajectory_run, tmp_path_factory) -> Path:
    """A results folder as `make demo` leaves it: both 12-month fits with their frequentist estimates stored,
    the cost-effectiveness result, and a trajectory fit."""
    results = tmp_path_factory.mktemp("results")
    data = write_cohort(full_cohort.data, tmp_path_factory.mktemp("data") / "cohort.parquet")
    for name, tree in full_fits.items():
        save(tree, results / f"{name}.nc")
        command = ["compare", str(results / f"{name}.nc"), "--data", str(data), "--out", str(results)]
        assert main([*command, "--store"]) == 0
    assert (
        main(
            [
                "cea",
                "--fit",
                str(results / "job_finding_12m.nc"),
                str(results / "ww_claim_12m.nc"),
                "--assumptions",
                str(MODELS / "cost_effectiveness.toml"),
                "--out",
                str(results),
            ]
        )
        == 0
    )
    shutil.copy(small_trajectory_run.fit, results / "trajectory_30m.nc")
    assert main(["report", str(results), "--data", str(data)]) == 0
    assert main(["report", str(results), "--lang", "nl"]) == 0
    return results


def find_chromium() -> str:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.fail(
        "Debian's chromium is needed for the report test: make test installs it (scripts/ensure_chromium.sh)"
    )


def chromium(page: Path, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    command = [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def test_report_has_every_section_and_figure_and_nothing_outside(full_run, full_fits):
    page = (full_run / "report.html").read_text()
    for section in sections():
        assert f'id="{section.anchor}"' in page and section.title[0] in page
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert len(sources) == EXPECTED_FIGURES + CHECK_FIGURES["report.html"]
    assert all(src.startswith("data:image/png;base64,") and len(src) > 10_000 for src in sources)
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # self-contained: no links to other files
    assert "person_id" not in page
    rows_per_table = [table.count("<tr") for table in page.split("<table")[1:]]
    assert max(rows_per_table) < 200  # summaries only (the longest: 35 regions x 3 contrasts)
    assert "DID NOT CONVERGE" in page  # the short trajectory fit is flagged
    # numbers come from the files: the overall service effect on jobs as the summary table gives it
    effects = effects_summary(full_fits["job_finding_12m"]["effects"])
    row = effects[
        (effects["estimand"] == "effect_pp")
        & (effects["level"] == "overall")
        & (effects["contrast"] == "service_vs_control_enforcement")
    ].iloc[0]
    assert f"<td>{row['mean']:,.2f}</td><td>{row['eti90_lb']:,.2f}</td>" in re.sub(r">\s+<", "><", page)


def test_report_checks_the_fits_against_their_cohort(full_run, full_cohort):
    """With --data, each fit of that cohort gets its model checks (recomputed: the fit files do not store
    the per-cell draws): LOO-PIT verdicts, leave one cell and one person out over its cells and persons,
    prior sensitivity; the trajectory fit of another cohort is named, not checked."""
    page = re.sub(r">\s+<", "><", (full_run / "report.html").read_text())
    assert "Model checks" in page
    assert re.search(r"<code>trajectory_30m.nc</code>: not checked: [^<]*not the file", page)
    cells = [int(n.replace(",", "")) for n in re.findall(r"<td>a cell</td><td>([\d,]+)</td>", page)]
    persons = [int(n.replace(",", "")) for n in re.findall(r"<td>a person</td><td>([\d,]+)</td>", page)]
    assert cells == [525, 525]  # both 12-month fits, every arm x class x region cell
    assert persons == [len(full_cohort.data)] * 2  # every person, through their patterns
    assert page.count("all cells") >= 2  # a LOO-PIT verdict over all cells per checked fit


def test_report_renders_in_headless_chromium(full_run, tmp_path):
    shot = tmp_path / "report.png"
    done = chromium(
        full_run / "report.html", "--window-size=1200,3000", f"--screenshot={shot}", tmp_path=tmp_path
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]
    not_white = (pixels < 0.95).any(axis=-1).mean()
    assert not_white > 0.03 and pixels.std() > 0.05  # text, tables and figures, not a blank page

    probe = tmp_path / "probe.html"
    probe.write_text((full_run / "report.html").read_text().replace("</body>", IMAGE_PROBE + "</body>"))
    dom = chromium(probe, "--virtual-time-budget=10000", "--dump-dom", tmp_path=tmp_path).stdout
    found = re.search(r"images=(\d+) broken=(\d+)", dom)
    assert found, dom[-2000:]
    assert (int(found[1]), int(found[2])) == (EXPECTED_FIGURES + CHECK_FIGURES["report.html"], 0)


def test_the_image_probe_sees_a_broken_image(full_run, tmp_path):
    """The check above can fail: a page with one undecodable image is reported as broken."""
    probe = tmp_path / "broken.html"
    bad = '<img alt="bad" src="data:image/png;base64,AAAA">'
    probe.write_text(f"<html><body>{bad}{IMAGE_PROBE}</body></html>")
    dom = chromium(probe, "--virtual-time-budget=5000", "--dump-dom", tmp_path=tmp_path).stdout
    assert re.search(r"images=1 broken=1", dom), dom[-2000:]


def test_report_of_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no ww_bayes fits" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no such folder"):
        build_report(tmp_path / "missing")
    assert not (tmp_path / "report.html").exists()


# --- the reader's screen: summary first, words not code names, tables that fit ---------------------------

#: Runs in the page after load: opens every collapsible section, then reports as JSON what a reader sees:
#: the summary sentences (text, and whether each lies inside the first screen), the page's scroll width
#: against the window's, the widest table, snake_case tokens in visible text outside <code>, and images.
PAGE_PROBE = """<script>window.addEventListener('load', () => {
  const summary = [...document.querySelectorAll('[id^="summary-"]')].map(e => ({
    id: e.id, text: e.textContent, bottom: e.getBoundingClientRect().bottom}));
  const height = window.innerHeight;
  document.querySelectorAll('details').forEach(d => d.open = true);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tokens = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('code, script, style')) continue;
    for (const m of node.textContent.matchAll(/[a-z]+_[a-z0-9_]+/g)) tokens.add(m[0]);
  }
  const tables = [...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().width);
  const images = [...document.images];
  const out = document.createElement('pre'); out.id = 'page-probe';
  out.textContent = JSON.stringify({summary, height, width: window.innerWidth,
    scroll: document.scrollingElement.scrollWidth, widest: Math.max(0, ...tables), tokens: [...tokens],
    images: images.length, broken: images.filter(i => !i.complete || i.naturalWidth === 0).length});
  document.body.appendChild(out);
});</script>"""


def probe(page: Path, width: int, height: int, tmp_path: Path) -> dict:
    import json

    probed = tmp_path / f"probe_{width}_{page.name}"
    probed.write_text(page.read_text().replace("</body>", PAGE_PROBE + "</body>"))
    dom = chromium(probed, f"--window-size={width},{height}", "--virtual-time-budget=10000", "--dump-dom",
                   tmp_path=tmp_path).stdout  # fmt: skip
    found = re.search(r'<pre id="page-probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(
        found[1].replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )


@pytest.mark.parametrize("page_name", ["report.html", "report_nl.html"])
@pytest.mark.parametrize("width", [1366, 1920])
def test_a_reader_sees_the_summary_first_in_words_and_tables_that_fit(full_run, tmp_path, page_name, width):
    seen = probe(full_run / page_name, width, 768, tmp_path)
    sentences = {s["id"]: s for s in seen["summary"]}
    six = ["summary-job", "summary-ww", "summary-enforcement", "summary-duration", "summary-forwhom",
           "summary-pays"]  # fmt: skip
    assert all(anchor in sentences for anchor in six)
    if width == 1366:  # the first screen of the smaller window holds all six
        assert all(sentences[a]["bottom"] <= seen["height"] for a in six), sentences
    for anchor in six:  # each with a number, an interval and a probability
        assert re.search(r"\d", sentences[anchor]["text"]) and "%" in sentences[anchor]["text"], anchor
    assert seen["scroll"] <= seen["width"] and seen["widest"] <= seen["width"], seen
    assert not seen["tokens"], seen["tokens"]  # no code name outside <code>
    assert seen["images"] == EXPECTED_FIGURES + CHECK_FIGURES[page_name] and seen["broken"] == 0


def test_the_probe_sees_a_code_name_and_a_wide_table(tmp_path):
    """The checks above can fail: a snake_case word outside <code> and a table wider than the window."""
    page = tmp_path / "bad.html"
    wide = "<table><tr>" + "<td>xxxxxxxxxxxxxxxx</td>" * 200 + "</tr></table>"
    page.write_text(f"<html><body><p id='summary-job'>job_finding_12m 1%</p>{wide}</body></html>")
    seen = probe(page, 1366, 768, tmp_path)
    assert seen["tokens"] == ["job_finding_12m"] and seen["scroll"] > seen["width"]


def test_the_summary_sentences_hold_the_numbers_of_the_result_files(full_run):
    """Each sentence's number, interval and probability are the summary CSVs' own, formatted."""
    import pandas as pd

    from ww_bayes.labels import Words

    page = html_unescape((full_run / "report.html").read_text())
    words = Words("en")
    for anchor, stem in (("summary-job", "job_finding_12m"), ("summary-ww", "ww_claim_12m")):
        table = pd.read_csv(full_run / f"{stem}_summary.csv", dtype={"group": str})
        row = table[(table["estimand"] == "effect_pp") & (table["level"] == "overall")
                    & (table["contrast"] == "service_vs_control_enforcement")].iloc[0]  # fmt: skip
        text = re.search(rf'id="{anchor}"[^>]*>(.*?)</p>', page, re.S)[1]
        for expected in (words.pp(row["mean"]), words.pp(row["eti90_lb"]), words.pp(row["eti90_ub"]),
                         words.percent(row["prob_beneficial"])):  # fmt: skip
            assert expected in text, (anchor, expected, text)
    cea = pd.read_csv(full_run / "cost_effectiveness_summary.csv").set_index("quantity").loc["net_benefit"]
    text = re.search(r'id="summary-pays"[^>]*>(.*?)</p>', page, re.S)[1]
    for expected in (
        words.euros(cea["mean"]),
        words.euros(cea["eti90_lb"]),
        words.percent(cea["prob_beneficial"]),
    ):
        assert expected in text, (expected, text)
    assert 'id="synthetic-banner"' in page  # the demo's data are synthetic, and the page says so


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


@pytest.fixture(scope="module")
def release(full_run, tmp_path_factory) -> Path:
    """The full run's 12-month fits and their cost-effectiveness result in a results folder of their own
    (the small trajectory fit beside them would merge every class), and its release."""
    folder = tmp_path_factory.mktemp("released")
    results = folder / "results"
    results.mkdir()
    for name in ("job_finding_12m.nc", "ww_claim_12m.nc", "cost_effectiveness.nc"):
        shutil.copy(full_run / name, results / name)
    assert main(["release", str(results), "--out", str(folder / "release")]) == 0
    return folder / "release"


def test_the_report_of_a_release_shows_the_same_summary(full_run, release):
    """What the official receives is the release: its report, made from released files only, has the same
    summary sentences as the full run's (the sentences on the 12-month effects and the cost-effectiveness
    come from the same files) and the synthetic-data banner."""
    assert main(["report", str(release), "--lang", "nl"]) == 0
    released_page = (release.parent / "release_report_nl.html").read_text()
    original = (full_run / "report_nl.html").read_text()
    for anchor in ("summary-job", "summary-ww", "summary-enforcement", "summary-forwhom", "summary-pays"):
        pattern = rf'id="{anchor}"[^>]*>(.*?)</p>'
        assert re.search(pattern, released_page, re.S)[1] == re.search(pattern, original, re.S)[1], anchor
    assert 'id="synthetic-banner"' in released_page
    assert not list(release.glob("*.html"))[2:]  # the report is not written into the release


#: How each language names an interval, the units of the axes, and words only the other language uses.
INTERVALS = {"en": r"\d+% (credible interval \((equal-tailed|highest density)\)|confidence interval)",
             "nl": r"\d+% (geloofwaardigheidsinterval \((gelijkstaartig|hoogste dichtheid)\)"
                   r"|betrouwbaarheidsinterval)"}  # fmt: skip
UNITS = {"en": r"percentage points|€", "nl": r"procentpunt|€"}
OTHER_LANGUAGE = {"en": ("procentpunt", "maand", "kans", "gegevens", "geloofwaardigheid"),
                  "nl": ("percentage point", "month", "probability", "credible", "claimants")}  # fmt: skip


#: The figures held to the rules here (the model checks' figures, ``ww_bayes.viz.checks``, are not yet).
RULED = ("effects", "forest", "trajectory", "hours", "cea")


def drawn_texts(plot: Plot, lang: str) -> list[str]:
    """The texts a reader sees in a report figure, a wrapped line read as one."""
    figure = draw(plot, lang)
    try:
        return [" ".join(t.get_text().split()) for t in shown_texts(figure)]
    finally:
        plt.close(figure)


def test_every_figure_of_the_report_and_the_release_says_interval_units_and_origin_in_its_language(
    full_run, release
):
    """The figures the report draws from a results folder and from a release (the release writes the same
    ones) name their interval's kind and probability, their units and that the data are synthetic, in the
    report's language."""
    for folder in (full_run, release):
        run = collect(folder)
        for lang in ("en", "nl"):
            words = Words(lang)
            plots = [b for s in sections() for b in s.build(run, words) if isinstance(b, Plot)
                     and b.name in RULED]  # fmt: skip
            # a release holds no frequentist estimates (no forest plots), and this one no trajectory fit
            assert len(plots) == (EXPECTED_FIGURES if folder == full_run else EXPECTED_FIGURES - 2 - 2), (
                folder.name
            )
            for plot in plots:
                texts = drawn_texts(plot, lang)
                what = f"{folder.name} {lang} {plot.name} {plot.options.get('name', '')}"
                assert any(words.origin("synthetic") in t for t in texts), what
                assert any(re.search(UNITS[lang], t) for t in texts), what
                intervals = [t for t in texts if re.search(INTERVALS[lang], t)]
                if plot.name != "cea" or plot.options["name"] == "net_benefit_by_class":
                    assert intervals, what
                assert not [t for t in texts if any(w in t for w in OTHER_LANGUAGE[lang])], what
