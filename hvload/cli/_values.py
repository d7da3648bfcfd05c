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


def fraction(text: str | float, what: str) -> float:
    """A fraction from ``"0.02"`` or ``"2%"``.

    A bare number of 1 or more is refused: ``--effect 2`` would mean 200 %, which is
    almost always a percentage written without its sign. 100 % or more must be written
    with ``%`` (``150%``).
    """
    raw = str(text).strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1]) / 100 if percent else float(raw)
    except ValueError:
        raise ValueError(f"{what}={text!r} is not a number; write e.g. 0.02 or 2%") from None
    if not percent and abs(value) >= 1:
        raise ValueError(
            f"{what}={raw} would be {value * 100:g} %; write 2% or 0.02 (a fraction), "
            f"or {value * 100:g}% if that much is meant"
        )
    return value
