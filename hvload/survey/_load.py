"""The catalogue's CSV files read into records at import, and a call looked up by name or code.

``hyperv_hypercalls.csv`` and ``kvm_hypercalls.csv`` live in ``hvload/survey/data``; a
malformed field is refused with its name.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterator
from importlib import resources
from typing import TypeVar

from ._records import Hypercall, KvmHypercall, Parameter, Partition, ValueKind

__all__ = ["HYPERCALLS", "KVM_HYPERCALLS", "csv_rows", "get", "load_hypercalls"]


def csv_rows(filename: str) -> Iterator[dict[str, str]]:
    """The rows of one of the survey's CSV files in ``hvload/survey/data``, as dicts."""
    text = (resources.files("hvload.survey") / "data" / filename).read_text(encoding="utf-8")
    # Comment lines are stripped before parsing so they may hold commas and quotes freely.
    body = "".join(line for line in io.StringIO(text) if not line.startswith("#"))
    yield from csv.DictReader(io.StringIO(body))


def _bool(field: str, text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"catalogue field {field} must be 'true' or 'false', got {text!r}")
    return text == "true"


_E = TypeVar("_E", bound=enum.Enum)


def _enum(kind: type[_E], field: str, text: str) -> _E:
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(repr(k.value) for k in kind)
        raise ValueError(
            f"catalogue field {field} must be one of {allowed}, got {text!r}"
        ) from None


def _parameters(text: str) -> tuple[Parameter, ...]:
    if not text:
        return ()
    out = []
    for item in text.split(";"):
        name, _, rest = item.partition(":")
        kind, _, what = rest.partition(":")
        out.append(Parameter(name, _enum(ValueKind, "parameters", kind), what))
    return tuple(out)


def _class_is_rep(text: str) -> bool:
    if text not in ("simple", "rep"):
        raise ValueError(f"catalogue field class must be 'simple' or 'rep', got {text!r}")
    return text == "rep"


def load_hypercalls() -> tuple[Hypercall, ...]:
    """Read the Hyper-V catalogue from the package data, in call-code order.

    Returns
    -------
    tuple of Hypercall
        One record per surveyed call.

    Raises
    ------
    ValueError
        If the data file holds a malformed field.
    """
    calls = tuple(
        Hypercall(
            name=row["name"],
            survey_name=row["survey_name"] or None,
            code=int(row["code"], 16),
            rep=_class_is_rep(row["class"]),
            variable_header=_bool("variable_header", row["variable_header"]),
            fast=_bool("fast", row["fast"]),
            input_bytes=int(row["input_bytes"]),
            input_element_bytes=int(row["input_element_bytes"]),
            output_bytes=int(row["output_bytes"]),
            output_element_bytes=int(row["output_element_bytes"]),
            partition=_enum(Partition, "partition", row["partition"]),
            privilege=row["privilege"],
            parameters=_parameters(row["parameters"]),
            description=row["description"],
            source=row["source"],
        )
        for row in csv_rows("hyperv_hypercalls.csv")
    )
    return tuple(sorted(calls, key=lambda c: c.code))


def _load_kvm() -> tuple[KvmHypercall, ...]:
    return tuple(
        KvmHypercall(int(row["number"]), row["name"], _bool("x86", row["x86"]), row["description"])
        for row in csv_rows("kvm_hypercalls.csv")
    )


#: The 26 surveyed Hyper-V hypercalls, in call-code order.
HYPERCALLS: tuple[Hypercall, ...] = load_hypercalls()
#: KVM's own hypercalls, by number.
KVM_HYPERCALLS: tuple[KvmHypercall, ...] = _load_kvm()

_BY_KEY: dict[str, Hypercall] = {}
for _call in HYPERCALLS:
    _BY_KEY[_call.name.lower()] = _call
    _BY_KEY[_call.table_name.lower()] = _call
    # "HvCallX" is how the TLFS pages and Linux spell most of these names.
    _BY_KEY["hvcall" + _call.name[2:].lower()] = _call
del _call


def get(key: str | int) -> Hypercall:
    """Look a call up by TLFS name, survey name, ``HvCall...`` spelling or call code.

    Parameters
    ----------
    key
        A name (case-insensitive) or an integer call code.

    Returns
    -------
    Hypercall

    Raises
    ------
    KeyError
        If no surveyed call matches.
    """
    if isinstance(key, int):
        for call in HYPERCALLS:
            if call.code == key:
                return call
        raise KeyError(f"no surveyed hypercall has code 0x{key:04X}")
    try:
        return _BY_KEY[key.lower()]
    except KeyError:
        raise KeyError(f"no surveyed hypercall is called {key!r}") from None
