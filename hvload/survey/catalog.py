"""The Hyper-V hypercall catalogue: TLFS facts about the 26 calls of the thesis survey.

The records live in ``hvload/survey/data/hyperv_hypercalls.csv`` (KVM's own calls in
``hvload/survey/data/kvm_hypercalls.csv``); they are loaded into frozen :class:`Hypercall`
records at import (:mod:`hvload.survey._load`; the types are in
:mod:`hvload.survey._records`) and into a pandas DataFrame on request (:func:`to_frame`,
:func:`kvm_frame`, here). Call codes, classes and the fast/variable-header marks come from
``shared/reference/platform-facts.md`` §4; sizes, parameter names, what each parameter is,
which partition a call addresses and the privilege it needs come from the online TLFS
reference pages. Every row names its source.

The records hold *facts* only: nothing here says whether a call suits repeated execution.
The survey's judgments (what the thesis could not understand, what it expected to crash,
which values it could only guess) are kept apart, each with the sentence of the survey it
rests on, in :mod:`hvload.survey.judgments`; :mod:`hvload.survey` derives each verdict from
both and a framework's profile (:mod:`hvload.survey.profiles`).

What a user-mode hypercall does under each hypervisor is kept in
:mod:`hvload.measure.hypervisors` and re-exported here, so that the catalogue is the one
place to look things up.

The register helpers (:func:`control_value`, :func:`fast_call`, :func:`memory_call`,
:func:`notify_long_spin_wait`, ...; in :mod:`hvload.survey._registers`, re-exported here)
turn a record into the register values of the executor's Hyper-V convention: RCX = control
(input) value, RDX and R8 = input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..measure.hypervisors import USER_MODE_HYPERCALL, UserModeHypercall, user_mode_hypercall
from ._load import HYPERCALLS, KVM_HYPERCALLS, get, load_hypercalls
from ._records import (
    FAST_INPUT_MAX,
    KVM_ENOSYS,
    KVM_EPERM,
    Hypercall,
    KvmHypercall,
    Parameter,
    Partition,
    ValueKind,
)
from ._registers import (
    HypercallRegisters,
    control_value,
    fast_call,
    memory_call,
    notify_long_spin_wait,
    signal_event,
    switch_virtual_address_space,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FAST_INPUT_MAX",
    "HYPERCALLS",
    "KVM_ENOSYS",
    "KVM_EPERM",
    "KVM_HYPERCALLS",
    "USER_MODE_HYPERCALL",
    "Hypercall",
    "HypercallRegisters",
    "KvmHypercall",
    "Parameter",
    "Partition",
    "UserModeHypercall",
    "ValueKind",
    "control_value",
    "fast_call",
    "get",
    "kvm_frame",
    "load_hypercalls",
    "memory_call",
    "notify_long_spin_wait",
    "signal_event",
    "switch_virtual_address_space",
    "to_frame",
    "user_mode_hypercall",
]


def to_frame(calls: Iterable[Hypercall] | None = None) -> pd.DataFrame:
    """The catalogue's TLFS facts as a DataFrame, one row per call, indexed by TLFS name.

    Parameters
    ----------
    calls
        Records to include; all of :data:`HYPERCALLS` by default.

    Returns
    -------
    pandas.DataFrame
        Columns as in :meth:`Hypercall.to_dict`; ``class`` and ``partition`` are
        categoricals.
    """
    import pandas as pd

    df = pd.DataFrame([c.to_dict() for c in (HYPERCALLS if calls is None else calls)])
    df = df.set_index("name")
    df["class"] = pd.Categorical(df["class"], categories=["simple", "rep"])
    df["partition"] = pd.Categorical(df["partition"], categories=[p.value for p in Partition])
    return df


def kvm_frame() -> pd.DataFrame:
    """KVM's own hypercalls as a DataFrame indexed by number."""
    import pandas as pd

    return pd.DataFrame([vars(k) for k in KVM_HYPERCALLS]).set_index("number")
