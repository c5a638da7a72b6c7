"""Shared vocabulary at the bottom of the package: sample dims, interval labels, and where lines go on
screen (:data:`Log`, :func:`say`, :func:`quiet` for a library's notices).

Every module may import this one (it imports nothing of ww_bayes), so the words a result is labelled with
are defined once: the interval label ``eti90`` names the interval's kind and probability wherever a column,
figure legend or report line shows an interval.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping

#: The dims of posterior draws.
SAMPLE_DIMS = ("chain", "draw")
#: Credible-interval kinds: equal-tailed and highest-density.
INTERVAL_KINDS = ("eti", "hdi")

#: Where library functions send progress lines (the CLI passes ``print``; ``None`` keeps quiet).
Log = Callable[[str], None]


def interval_label(kind: str, prob: float) -> str:
    """The column prefix of a credible interval, e.g. ``eti90`` (kind and probability in percent)."""
    if kind not in INTERVAL_KINDS:
        raise ValueError(f"interval kind must be one of {', '.join(INTERVAL_KINDS)}, got {kind!r}")
    return f"{kind}{round(100 * prob)}"


def confidence_label(prob: float) -> str:
    """The column prefix of a frequentist confidence interval, e.g. ``ci90``: the same probability as the
    credible intervals it is set beside."""
    return f"ci{round(100 * prob)}"


def interval_text(kind: str, prob: float) -> str:
    """The interval in words for captions and screen tables, e.g. ``ETI 90% credible interval``."""
    return f"{kind.upper()} {prob:.0%} credible interval"


def interval_of(attrs: Mapping) -> tuple[str, float]:
    """(kind, probability) of the interval a fit or result file reports, from its attrs (ETI 90% when a
    file does not say)."""
    return str(attrs.get("interval_kind", "eti")), float(attrs.get("interval_prob", 0.9))


def say(log: Log | None) -> Log:
    """``log`` or a function that drops the line."""
    return log or (lambda _line: None)


@contextlib.contextmanager
def quiet(logger: str, level: int = logging.WARNING) -> Iterator[None]:
    """Within the block, messages of ``logger`` below ``level`` are dropped: a library's notices that the
    results already say (PyMC's "Sampling: [...]" list of the variables each prior draw draws)."""
    handle = logging.getLogger(logger)
    before = handle.level
    handle.setLevel(level)
    try:
        yield
    finally:
        handle.setLevel(before)
