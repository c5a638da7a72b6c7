"""Every analyst notebook uses only the public API, runs top to bottom on saved results and is committed
without outputs.

The public API is ``ww_bayes`` and the ``__all__`` of ``ww_bayes.viz``, ``ww_bayes.cea`` and
``ww_bayes.compare``: the scan parses each notebook's code (no execution) and names every other
``ww_bayes.*`` import, every name outside those ``__all__`` lists, every underscore name reached through
ww_bayes and every read of a result's ``attrs``.

To run, the notebooks get what ``make demo`` writes, made small by a fixture (a cohort of 8,000 and the four
shipped fits with short chains), and read it instead of fitting; the variants they compare are fit with short
chains. They run two at a time (each in its own kernel): most of their time is single-threaded numba
compilation, so two overlap well on the 2-core CI machine.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import ww_bayes as wb

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
MODELS = NOTEBOOKS.parent / "models"
NAMES = ("01_quickstart", "02_heterogeneity", "03_long_term", "04_frequentist_comparison",
         "05_cost_effectiveness", "06_destinations", "07_model_checks", "08_your_extract")  # fmt: skip
#: The CI parameters: a small cohort (still every arm in every class and region) and short chains.
SMALL = {"N_PERSONS": 8_000, "SEED": 3, "SHORT": True}
#: The fits ``make demo`` writes, by spec name.
DEMO_FITS = ("job_finding_12m", "ww_claim_12m", "trajectory_30m", "destinations_12m")

# --- the public API, checked by parsing ---------------------------------------------------------------------

PUBLIC_MODULES = ("ww_bayes", "ww_bayes.viz", "ww_bayes.cea", "ww_bayes.compare")
ATTRS_READ = re.compile(r"\.attrs\s*(\[|\.get\s*\()")


def exported(module: str) -> set[str]:
    return set(importlib.import_module(module).__all__)


def api_violations(source: str) -> list[str]:
    """What ``source`` (a notebook's code) reaches outside the public API."""
    source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    found = [f"reads attrs: {m.group(0)}" for m in ATTRS_READ.finditer(source)]
    aliases: dict[str, str] = {}  # a local name -> the public module it is bound to
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ww_bayes" or alias.name.startswith("ww_bayes."):
                    if alias.name not in PUBLIC_MODULES:
                        found.append(f"imports {alias.name}")
                    elif alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases["ww_bayes"] = "ww_bayes"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ww_bayes":
            if node.module not in PUBLIC_MODULES:
                found.append(f"imports from {node.module}")
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in PUBLIC_MODULES:
                    aliases[alias.asname or alias.name] = submodule
                elif alias.name not in exported(node.module):
                    found.append(f"imports {alias.name} from {node.module} (not in its __all__)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            module = aliases[node.value.id]
            if f"{module}.{node.attr}" not in PUBLIC_MODULES and node.attr not in exported(module):
                found.append(f"reaches {module}.{node.attr} (not in its __all__)")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in aliases:
                found.append(f"reaches an underscore name: {node.attr}")
    return found


def notebook_source(name: str) -> str:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_uses_only_the_public_api(name):
    assert api_violations(notebook_source(name)) == []


def test_the_api_scan_can_fail():
    probe = "\n".join(
        [
            "import ww_bayes as wb",
            "import ww_bayes.results",
            "from ww_bayes.data.io import write_datatree",
            "from ww_bayes import _private, load",
            "from ww_bayes.viz import effects_plot, figures",
            "from ww_bayes.cea import analysis",
            "wb._hidden(1)",
            "wb.results.load_fit('x')",
            "wb.published._SOURCE",
            "print(tree.attrs['convergence_report'], tree.attrs.get('converged'))",
        ]
    )
    assert sorted(api_violations(probe)) == sorted(
        [
            "reads attrs: .attrs[",
            "reads attrs: .attrs.get(",
            "imports ww_bayes.results",
            "imports from ww_bayes.data.io",
            "imports _private from ww_bayes (not in its __all__)",
            "imports figures from ww_bayes.viz (not in its __all__)",
            "imports analysis from ww_bayes.cea (not in its __all__)",
            "reaches ww_bayes._hidden (not in its __all__)",
            "reaches ww_bayes.results (not in its __all__)",
            "reaches an underscore name: _SOURCE",
        ]
    )
    clean = (
        "import ww_bayes as wb\nfrom ww_bayes.viz import effects_plot\nwb.convergence(wb.load('x')).report"
    )
    assert api_violations(clean) == []


# --- running them ------------------------------------------------------------------------------------------


def parameter_cell(notebook) -> int:
    found = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(found) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    return found[0]


def run(name: str, overrides: dict) -> nbformat.NotebookNode:
    """Execute a notebook (as papermill would: the overrides in a cell after the parameters cell)."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    source = "\n".join(f"{key} = {value!r}" for key, value in overrides.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(parameter_cell(notebook) + 1, injected)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    return client.execute()


def small_demo(folder: Path) -> dict[str, str]:
    """What ``make demo`` writes, small: the cohort (its truth beside it) and the four shipped fits with
    short chains; an analyst's extract as CSV (another seed). Returns the notebooks' path parameters."""
    cohort = wb.simulate_cohort(n=SMALL["N_PERSONS"], seed=SMALL["SEED"], progress=False)
    data = cohort.write(folder / "data" / "cohort.parquet")
    results = folder / "results"
    for name in DEMO_FITS:
        spec = wb.load_spec(MODELS / f"{name}.toml")
        draws = 100 if name.startswith("trajectory") else 200
        short = spec.with_sampler(chains=2, draws=draws, tune=draws)
        with warnings.catch_warnings():  # short chains do not converge: expected, and the notebooks say so
            warnings.simplefilter("ignore", wb.ConvergenceWarning)
            tree = wb.fit(short, data, progress=False, log=None)
        wb.save(tree, results / f"{name}.nc")
    extract = folder / "extract.csv"
    wb.write_cohort(wb.simulate_cohort(n=SMALL["N_PERSONS"], seed=4, progress=False).data, extract)
    return {"DATA": str(data), "RESULTS": str(results), "EXTRACT": str(extract)}


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict[str, nbformat.NotebookNode | Exception]:
    paths = small_demo(tmp_path_factory.mktemp("demo"))

    def attempt(name: str):
        try:
            return run(name, {**SMALL, **paths})
        except Exception as error:  # reported by the test of that notebook
            return error

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(NAMES, pool.map(attempt, NAMES), strict=True))


def test_the_notebooks_folder_holds_exactly_these():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code), (
        f"{name}: outputs in git; run `make strip-notebooks`"
    )
    parameter_cell(notebook)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(executed, name):
    result = executed[name]
    if isinstance(result, Exception):
        pytest.fail(f"{name} failed:\n{str(result)[-4000:]}")
    code = [cell for cell in result.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors
    images = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    if name != "01_quickstart":  # every other notebook draws figures
        assert images, f"{name}: no figure rendered"


@pytest.mark.parametrize("name", NAMES)
def test_truth_appears_only_in_a_simulation_check(name):
    """The simulator's truth is read only under a heading "Simulation check: ..." (real data have none)."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    section = ""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            headings = [line for line in cell.source.splitlines() if line.startswith("## ")]
            section = headings[-1] if headings else section
        elif re.search(r"truth_of|truth_path|\.truth\b|coverage\(", cell.source):
            assert section.startswith("## Simulation check:"), f"{name}: truth outside a simulation check"
