"""docs/architecture.md stays true: every module it names exists, every method and attribute of the
"adding a model kind" checklist is one ``ModelKind`` or ``Observation`` has, and every module of the
package is in the map."""

from __future__ import annotations

import re
from pathlib import Path

import ww_bayes as wb
from ww_bayes.derived import derived_tree
from ww_bayes.kinds.observations import Observation
from ww_bayes.kinds.protocol import ModelKind

PACKAGE = Path(wb.__file__).parent
PAGE = PACKAGE.parent / "docs" / "architecture.md"


def named_modules(text: str) -> set[str]:
    return set(re.findall(r"`(ww_bayes/[\w/]+\.py)`", text))


def checklist(text: str) -> str:
    return text.split("## Adding a model kind", 1)[1]


def test_every_module_the_page_names_exists_and_every_module_is_named():
    text = PAGE.read_text()
    named = named_modules(text)
    assert named, "the page names no module"
    missing = [m for m in named if not (PACKAGE.parent / m).is_file()]
    assert not missing, missing
    modules = {
        p.relative_to(PACKAGE.parent).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" or p.parent.name == "kinds"
    }
    helpers = {
        "ww_bayes/calibration/dispatch.py",
        "ww_bayes/calibration/studies.py",
        "ww_bayes/cea/assumptions.py",
        "ww_bayes/data/describe.py",
        "ww_bayes/data/published.py",
        "ww_bayes/viz/calibration.py",
    }
    unnamed = sorted(modules - named - helpers)
    assert not unnamed, f"modules missing from docs/architecture.md: {unnamed}"


def test_every_method_and_attribute_of_the_checklist_exists():
    names = set(re.findall(r"`(\w+)`", checklist(PAGE.read_text())))
    known = set(dir(ModelKind)) | set(dir(Observation)) | set(dir(wb.kinds)) | {"derived_tree"}
    known |= {"SpecCommon", "ModelKind", "Observation", "BinaryCounts", "CategoryCounts", "NormalStatistics",
              "HurdleStatistics", "kind", "register", "summary_table"}  # fmt: skip
    unknown = sorted(n for n in names if n not in known)
    assert not unknown, f"the checklist names what does not exist: {unknown}"
    assert callable(derived_tree)


def test_the_scan_can_fail():
    assert named_modules("`ww_bayes/nowhere.py`") == {"ww_bayes/nowhere.py"}
    assert not (PACKAGE.parent / "ww_bayes/nowhere.py").is_file()
