"""Option values that several subcommands parse the same way: integer lists and fractions."""

from __future__ import annotations


def int_list(text: str, what: str) -> list[int]:
    """The integers of a comma-separated option value such as ``--load-cpus 1,2,3``."""
    try:
        values = [int(tok) for tok in text.split(",") if tok.strip()]
    except ValueError:
        raise ValueError(f"{what}={text!r} is not a comma-separated list of integers") from None
    if not values:
        raise ValueError(f"{what}={text!r} is empty; give a comma-separated list of integers")
    return values


def fraction(text: str, what: str) -> float:
    """A fraction from ``"0.02"`` or ``"2%"``."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{what}={text!r} is not a number; write e.g. 0.02 or 2%") from None
    return value
