"""Reading TOML input files (model specifications, cost-effectiveness assumptions) with errors that name
the key: a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from pathlib import Path

import tomli_w

#: The specs and assumptions shipped with the package (``ww_bayes/models``: the repository's ``models/``).
SHIPPED = "models"


def shipped_names() -> list[str]:
    """Names of the shipped TOML files (``job_finding_12m``, ..., ``cost_effectiveness``)."""
    folder = resources.files("ww_bayes") / SHIPPED
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def resolve_input(name_or_path: str | os.PathLike) -> Path:
    """A file path as given when it exists or names a folder or a ``.toml`` file; else a bare name of a
    shipped file (``job_finding_12m``) resolved to the package's copy. An unknown name stays as given, so
    the reader's "no such file" message names it."""
    path = Path(name_or_path)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    shipped = resources.files("ww_bayes") / SHIPPED / f"{path.name}.toml"
    return Path(str(shipped)) if shipped.is_file() else path


#: Keys of an input file that hold free text (a description in the analyst's words): a release has no rule
#: for what such text may say, so a released spec leaves them out.
FREE_TEXT_KEYS = ("description",)


class SpecError(ValueError):
    """An input file (model spec or assumptions) with an unknown key or a bad value."""


def read_toml(text: str, source: str = "<string>") -> dict:
    """The TOML text as a dict; a :class:`SpecError` naming ``source`` when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source}: not valid TOML: {error}") from error


def read_text(path: str | os.PathLike, what: str) -> str:
    """The text of an input file; a :class:`SpecError` saying ``no such <what>`` when it is missing."""
    path = resolve_input(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a folder, not a {what} (a TOML file)")
    if not path.is_file():
        hint = "" if path.suffix or len(path.parts) > 1 else f" (shipped: {', '.join(shipped_names())})"
        raise SpecError(f"{path}: no such {what}{hint}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(
            f"{path}: not a text file (byte {error.object[error.start]:#04x} at position {error.start} is "
            f"not UTF-8); a {what} is a TOML text file"
        ) from None


def reject_unknown(section: str, given: dict, known) -> None:
    """Raise naming the first key of ``given`` (a table at ``section``) that is not in ``known``."""
    extra = sorted(set(given) - set(known))
    if extra:
        where = f"{section}." if section else ""
        raise SpecError(
            f"unknown key '{where}{extra[0]}'"
            + (f" (and {', '.join(map(repr, extra[1:]))})" if len(extra) > 1 else "")
            + f"; known keys: {', '.join(sorted(known))}"
        )


def require(section: str, given: dict, keys) -> None:
    """Raise naming the first of ``keys`` missing from ``given``."""
    for key in keys:
        if key not in given:
            where = f"{section}." if section else ""
            raise SpecError(f"missing key '{where}{key}'")


#: What a name may be (a spec's or the assumptions' ``name``): letters, digits, ``_``, ``.`` and ``-``. It
#: travels into file names and released attributes, so it is an identifier, never a sentence.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def identifier(key: str, value) -> str:
    """``value`` checked as a name (:data:`NAME_PATTERN`); the error names ``key``."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise SpecError(f"{key!r} must be a name of letters, digits, '_', '.' or '-', got {value!r}")
    return value


def number(key: str, value, *, low=None, high=None, integer=False, open_low=False) -> float:
    """``value`` checked as a number (or integer) in range; the error names ``key``."""
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        kind = "an integer" if integer else "a number"
        raise SpecError(f"{key!r} must be {kind}, got {value!r}")
    if low is not None and (value <= low if open_low else value < low):
        raise SpecError(f"{key!r} must be {'>' if open_low else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise SpecError(f"{key!r} must be <= {high}, got {value!r}")
    return value


def released_toml(text: str, source: str = "<string>", leave_out: tuple[str, ...] = ()) -> str:
    """The TOML ``text`` as a release writes it: its values only, in a canonical layout (no comments, no
    free-text keys such as ``description``): what the analyst wrote beside the values has no rule in a
    release. Parsing it gives the same settings apart from the free text (and the top-level keys
    ``leave_out``); it is its own canonical form (:func:`is_released_toml`)."""
    raw = read_toml(text, source)
    return tomli_w.dumps({k: v for k, v in raw.items() if k not in (*FREE_TEXT_KEYS, *leave_out)})


def is_released_toml(text: str) -> bool:
    """Whether ``text`` is TOML in the canonical layout of :func:`released_toml` (a comment, a free-text
    key or another layout makes it not)."""
    try:
        return released_toml(text) == text
    except SpecError:
        return False
