"""The campaign metadata: one registry of its keys, the format versions, and a typed view.

Every campaign file keeps one metadata dict (:attr:`hvload.model.Campaign.metadata`).
:data:`REGISTRY` says, for each key hvload writes, what type its value has, what it holds
and since which campaign format version it is written. :class:`CampaignMeta` is that
dict with its known keys checked and typed; keys it does not know (written by a newer
hvload, or added by hand) are kept in ``extra``, so reading a dict and writing it back
gives the same dict.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "FORMAT_VERSION",
    "FORMAT_VERSIONS",
    "REGISTRY",
    "WRITTEN",
    "CampaignMeta",
    "MetaKey",
    "check_value",
]

#: What each campaign file format version changed (:mod:`hvload.store` reads them all).
FORMAT_VERSIONS: dict[int, str] = {
    1: "the first format: Parquet samples, a block table and this metadata",
    2: "page checksums and per-block digests",
    3: "the probe_index column (control probes measured beside the main probe)",
    4: "start and response stored as due and late (see hvload.store)",
}
#: The version this hvload writes.
FORMAT_VERSION = max(FORMAT_VERSIONS)


class MetaKey(NamedTuple):
    """One metadata key: the types its value may have, what it holds, since which version."""

    types: tuple[type, ...]
    what: str
    since: int


_STR = (str,)
_OPT_STR = (str, types.NoneType)
_DICT = (dict,)

#: Every metadata key hvload writes, in the order :func:`hvload.campaign.metadata_for`
#: writes them, then the keys added later (at the end of a run, on recovery, on rewrite,
#: by a remote load driver, or in memory by :func:`hvload.campaign.usable`).
REGISTRY: dict[str, MetaKey] = {
    "format": MetaKey(_STR, "always 'hvload-campaign'", 1),
    "format_version": MetaKey((int,), "the file format version (FORMAT_VERSIONS)", 1),
    "campaign": MetaKey(_STR, "the campaign id: 12 hex digits, fresh for every run", 1),
    "start_utc": MetaKey(_STR, "when the run started (ISO 8601, UTC)", 1),
    "tsc_hz": MetaKey((float, int), "TSC ticks per second of the measuring machine", 1),
    "hypervisor": MetaKey(_OPT_STR, "the hypervisor the CPU reports (None: none found)", 1),
    "cpu": MetaKey(_STR, "CPU vendor and brand", 1),
    "hostname": MetaKey(_OPT_STR, "the measuring machine's host name", 1),
    "rax_meaning": MetaKey(_STR, "what the main probe's rax column holds here", 1),
    "control_rax_meaning": MetaKey(_DICT, "control label -> what its rax column holds", 3),
    "measured": MetaKey(_STR, "what the cycles and response columns count", 1),
    "noise_columns": MetaKey(_DICT, "block noise column -> what it holds", 3),
    "git_commit": MetaKey(_OPT_STR, "hvload's git commit ('-dirty' with local changes)", 1),
    "versions": MetaKey((dict, types.NoneType), "package -> version of the software", 1),
    "platform": MetaKey(_DICT, "the platform report (hvload.measure.machine.platform)", 1),
    "design": MetaKey(_DICT, "the design (hvload.model.Design.to_dict)", 1),
    "end_utc": MetaKey(_OPT_STR, "when the run ended (None while it runs)", 1),
    "stopped": MetaKey(_STR, "why a run ended before its last block (a stop request)", 2),
    "recover_skipped": MetaKey((list,), "parts hvload.store.recover could not read", 1),
    "rewritten": MetaKey(_DICT, "when and how an older file was rewritten", 2),
    "load_agents": MetaKey(_DICT, "remote load agent -> its platform, CPUs, clock", 3),
    "remote_load": MetaKey(_DICT, "the remote load driver's settings and its rule", 3),
    "left_out": MetaKey((list,), "blocks hvload.campaign.usable left out (in memory)", 3),
    "hygiene": MetaKey(
        (list, types.NoneType),
        "what hvload check found before measuring (hvload.measure.check): one dict per "
        "condition (isolation, governor, turbo, SMT, clocksource, TSC, steal, IRQs, "
        "mitigations, nesting, busy CPUs) with name, status, value, effect, fix, source; "
        "files written before it lack the key",
        4,
    ),
    "sequential": MetaKey(
        _DICT,
        "a sequential campaign's (hvload run --until decided) planned looks, method, "
        "alpha per look and every look taken with its verdicts (hvload.stats.sequential)",
        4,
    ),
}

#: The keys :func:`hvload.campaign.metadata_for` writes, in its order: the default keys
#: of a :class:`CampaignMeta` built directly.
WRITTEN: tuple[str, ...] = (
    "format", "format_version", "campaign", "start_utc", "tsc_hz", "hypervisor", "cpu",
    "hostname", "rax_meaning", "control_rax_meaning", "measured", "noise_columns",
    "git_commit", "versions", "platform", "design", "hygiene",
)  # fmt: skip


def _type_text(allowed: tuple[type, ...]) -> str:
    return " or ".join("None" if t is types.NoneType else t.__name__ for t in allowed)


def check_value(key: str, value: object) -> None:
    """Refuse ``value`` for a :data:`REGISTRY` key when its type is not the key's.

    Raises
    ------
    ValueError
        One line naming the key, the value's type and the types allowed.
    """
    allowed = REGISTRY[key].types
    # bool is an int to isinstance, but never a version, a count or a frequency.
    if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
        raise ValueError(
            f"metadata key {key!r} holds a {type(value).__name__}; "
            f"allowed: {_type_text(allowed)} ({REGISTRY[key].what})"
        )


@dataclass(frozen=True)
class CampaignMeta:
    """A campaign's metadata dict with its known keys checked and typed.

    One field per :data:`REGISTRY` key (None where the dict lacks it), ``extra`` for the
    keys the registry does not know, and ``order``: the dict's keys in their order, which
    tells a key set to None from a key that is absent (default: the keys
    :func:`hvload.campaign.metadata_for` writes). :meth:`to_dict` gives back the
    dict :meth:`from_dict` read, key order included.
    """

    format: str | None = None
    format_version: int | None = None
    campaign: str | None = None
    start_utc: str | None = None
    tsc_hz: float | None = None
    hypervisor: str | None = None
    cpu: str | None = None
    hostname: str | None = None
    rax_meaning: str | None = None
    control_rax_meaning: dict[str, str] | None = None
    measured: str | None = None
    noise_columns: dict[str, str] | None = None
    git_commit: str | None = None
    versions: dict[str, Any] | None = None
    platform: dict[str, Any] | None = None
    design: dict[str, Any] | None = None
    end_utc: str | None = None
    stopped: str | None = None
    recover_skipped: list[str] | None = None
    rewritten: dict[str, Any] | None = None
    load_agents: dict[str, Any] | None = None
    remote_load: dict[str, Any] | None = None
    left_out: list[str] | None = None
    hygiene: list[dict[str, str]] | None = None
    sequential: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    order: tuple[str, ...] = WRITTEN

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", tuple(self.order))
        for key in self.order:
            if key in REGISTRY:
                check_value(key, getattr(self, key))
            elif key not in self.extra:
                raise ValueError(f"metadata key {key!r} is in order but neither known nor in extra")
        for key in self.extra:
            if key in REGISTRY:
                raise ValueError(f"metadata key {key!r} is known; give it as a field, not in extra")
            if key not in self.order:
                object.__setattr__(self, "order", (*self.order, key))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CampaignMeta:
        """Check and type ``d`` (a campaign's metadata); unknown keys go to ``extra``.

        Raises
        ------
        ValueError
            One line naming a known key whose value has a type the registry does not allow.
        """
        known = {k: v for k, v in d.items() if k in REGISTRY}
        extra = {k: v for k, v in d.items() if k not in REGISTRY}
        return cls(**known, extra=extra, order=tuple(d))

    def to_dict(self) -> dict[str, Any]:
        """The metadata dict: the keys in ``order``, in that order."""
        return {k: getattr(self, k) if k in REGISTRY else self.extra[k] for k in self.order}
