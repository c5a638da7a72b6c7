"""Model kinds and their registry: the only place that knows which kinds exist.

A spec's ``kind`` key (``"effects"``, the default, ``"trajectory"``, ``"hours"`` or ``"destinations"``)
and a fit file's ``model_kind`` attr name a :class:`~ww_bayes.kinds.protocol.ModelKind`; everything else in
ww_bayes asks the kind (:func:`kind_named`, :func:`kind_of`) instead of testing which one it holds. Adding a
kind is one module and one entry in :data:`KINDS` (or :func:`register` at run time, as the toy kind in the
tests does).
"""

from __future__ import annotations

import os

import xarray as xr

from ww_bayes.kinds import destinations, effects, hours, trajectory
from ww_bayes.kinds.common import common_settings
from ww_bayes.kinds.protocol import ModelKind, check_kind
from ww_bayes.tomlspec import SpecError, read_text, read_toml

DEFAULT_KIND = "effects"
#: ``kind`` in a spec file -> the model kind.
KINDS: dict[str, ModelKind] = {}


def register(kind: ModelKind) -> ModelKind:
    """Add (or replace) a model kind under its ``name``, checked (:func:`ww_bayes.kinds.protocol.check_kind`:
    a :class:`TypeError` naming what it lacks); returns it."""
    check_kind(kind)
    KINDS[kind.name] = kind
    return kind


for shipped in (effects.KIND, trajectory.KIND, hours.KIND, destinations.KIND):
    register(shipped)


def kind_named(name: str) -> ModelKind:
    """The kind registered as ``name``; a :class:`SpecError` listing the known ones otherwise."""
    if name not in KINDS:
        raise SpecError(f"'kind' must be one of {', '.join(KINDS)}, got {name!r}")
    return KINDS[name]


def kind_of(item) -> ModelKind:
    """The kind of a spec (its ``kind`` attribute) or of a fit (its ``model_kind`` attr)."""
    if isinstance(item, xr.DataTree):
        return kind_named(str(item.attrs.get("model_kind", DEFAULT_KIND)))
    return kind_named(item.kind)


def parse_spec(text: str, source: str = "<string>"):
    """Parse and validate the TOML text of a model specification (any registered kind)."""
    raw = read_toml(text, source)
    try:
        kind = kind_named(raw.get("kind", DEFAULT_KIND))
        common = common_settings(raw, text, source, kind.spec_keys, kind.required_keys)
        return kind.parse(raw, text, source, common)
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None


def load_spec(path: str | os.PathLike):
    """Read and validate a model specification: a TOML file, or the name of a shipped one
    (``job_finding_12m``, ``ww_claim_12m``, ``trajectory_30m``, ``hours_worked_y1``:
    :func:`ww_bayes.tomlspec.resolve_input`)."""
    return parse_spec(read_text(path, "model specification"), source=str(path))
