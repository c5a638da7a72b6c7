"""The package's structure, checked: imports run one way (data and kinds never reach up into inference,
results or the consumers), no module imports another's underscore names, importing ww_bayes leaves
matplotlib's backend alone, and the CLI only parses arguments."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ww_bayes as wb

PACKAGE = Path(wb.__file__).parent
#: Stages in the order data flows; a module may import its own stage and the ones before it.
STAGES = ("data", "kinds", "sampler", "postprocess", "results", "inference", "recompute", "checks", "compare",
          "cea", "viz", "report", "release", "calibration", "workflow", "cli")  # fmt: skip
#: Bottom modules every stage may import.
SHARED = ("vocabulary", "labels", "tomlspec", "derived", "estimands", "summaries", "diagnostics")


def stage_of(module: str) -> str | None:
    """``ww_bayes.kinds.effects`` -> ``kinds``; None for the package itself and the shared modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``from ww_bayes... import ...`` and ``import ww_bayes...`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ww_bayes"):
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.startswith("ww_bayes")]
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def upward_imports(path: Path, name: str) -> list[str]:
    """The imports of module ``name`` (file ``path``) that reach up to a later stage; shared bottom modules
    may import only each other and the schema (the labels of arms and contrasts)."""
    wrong = []
    own = stage_of(name)
    for module, names in imports(path):
        # "from ww_bayes import x" names a submodule or a re-export: judge the submodule it names
        targets = [f"ww_bayes.{n}" for n in names] if module == "ww_bayes" else [module]
        for target in targets:
            other = stage_of(target)
            if own and other and STAGES.index(other) > STAGES.index(own):
                wrong.append(f"{name} imports {target}")
            shared = name in (f"ww_bayes.{s}" for s in SHARED)
            if shared and other and target != "ww_bayes.data.schema":
                wrong.append(f"{name} (shared, at the bottom) imports {target}")
    return wrong


def test_imports_run_one_way_downwards():
    assert not [line for path in PACKAGE.rglob("*.py") for line in upward_imports(path, module_name(path))]


def test_the_direction_check_catches_an_upward_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from ww_bayes.results import load_fit\nfrom ww_bayes import workflow\n")
    assert upward_imports(probe, "ww_bayes.kinds.probe") == [
        "ww_bayes.kinds.probe imports ww_bayes.results",
        "ww_bayes.kinds.probe imports ww_bayes.workflow",
    ]
    assert upward_imports(probe, "ww_bayes.vocabulary")  # a shared module importing a stage


def test_no_module_imports_underscore_names():
    private = [
        f"{module_name(path)}: from {module} import {name}"
        for path in PACKAGE.rglob("*.py")
        for module, names in imports(path)
        for name in names
        if name.startswith("_") and name != "__version__"
    ]
    assert not private


def test_importing_ww_bayes_leaves_the_matplotlib_backend_alone():
    modules = sorted(module_name(p) for p in PACKAGE.rglob("*.py"))
    code = (
        "import importlib, matplotlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(matplotlib.rcParams._get('backend') is matplotlib.rcsetup._auto_backend_sentinel)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True", done.stderr


def test_the_cli_only_parses_arguments():
    source = (PACKAGE / "cli.py").read_text()
    assert len(source.splitlines()) <= 320  # the commands, their options and help
    imported = {module.split(".")[0] for module, _ in imports(PACKAGE / "cli.py")}
    tree = ast.parse(source)
    third_party = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    third_party |= {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert imported == {"ww_bayes"}
    assert not third_party & {"numpy", "pandas", "xarray", "pymc", "arviz", "arviz_stats", "scipy"}
