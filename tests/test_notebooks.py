"""Every analyst notebook runs top to bottom (small cohort, short chains) and is committed without outputs.

The notebooks run two at a time (each in its own kernel): most of their time is single-threaded numba
compilation, so two overlap well on the 2-core CI machine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_quickstart", "02_heterogeneity", "03_long_term", "04_frequentist_comparison",
         "05_cost_effectiveness", "07_model_checks")  # fmt: skip
#: The CI parameters: a small cohort (still every arm in every class and region) and short chains.
SMALL = {"N_PERSONS": 8_000, "SEED": 3, "SHORT": True}


def parameter_cell(notebook) -> int:
    found = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(found) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    return found[0]


def run(name: str, results: Path) -> nbformat.NotebookNode:
    """Execute a notebook (as papermill would: the overrides in a cell after the parameters cell)."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    overrides = {**SMALL, "RESULTS": str(results / name)}
    source = "\n".join(f"{key} = {value!r}" for key, value in overrides.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(parameter_cell(notebook) + 1, injected)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    return client.execute()


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict[str, nbformat.NotebookNode | Exception]:
    results = tmp_path_factory.mktemp("notebooks")

    def attempt(name: str):
        try:
            return run(name, results)
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
