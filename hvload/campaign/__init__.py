"""hvload.campaign: build a campaign for this machine, run it block by block, and say
which of its blocks the analysis admits.

Modules: :mod:`.runner` (the block loop, :func:`run`, the load drivers' protocol),
:mod:`._prepare` (:func:`prepare`, :class:`Plan`, the default sizes), :mod:`._policy`
(:func:`usable`, :func:`left_out`, :func:`applied_load_text`), :mod:`._sequential`
(:class:`Sequential`: the looks of ``hvload run --until decided``), :mod:`._metadata`
(:func:`metadata_for`), :mod:`.spec` (:class:`CampaignSpec`: every run option,
validated once, for the CLI, :func:`prepare`, the remote prepare and the Explorer).
"""

from typing import TYPE_CHECKING, Any

from ..model import SAMPLE_COLUMNS, BlockResult, Campaign, Design
from ._metadata import metadata_for
from ._policy import applied_load_text, left_out, usable
from ._prepare import (
    AUTO_CONTROLS,
    DEFAULT_FRACTIONS,
    DEFAULT_SIZES,
    QUICK_FRACTIONS,
    QUICK_SIZES,
    Plan,
    prepare,
)
from .runner import LoadDriver, LoadOutcome, LocalLoad, iter_blocks, run
from .spec import CampaignSpec, RemoteSpec, SpecError

if TYPE_CHECKING:
    from ._sequential import Sequential


def __getattr__(name: str) -> Any:
    # Sequential analyses with hvload.stats (scipy): imported when first asked for, so a
    # plain run refuses a bad option before that import (tests/test_cli_fuzz.py).
    if name == "Sequential":
        from ._sequential import Sequential

        return Sequential
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AUTO_CONTROLS",
    "DEFAULT_FRACTIONS",
    "DEFAULT_SIZES",
    "QUICK_FRACTIONS",
    "QUICK_SIZES",
    "SAMPLE_COLUMNS",
    "BlockResult",
    "Campaign",
    "CampaignSpec",
    "Design",
    "LoadDriver",
    "LoadOutcome",
    "LocalLoad",
    "Plan",
    "RemoteSpec",
    "Sequential",
    "SpecError",
    "applied_load_text",
    "iter_blocks",
    "left_out",
    "metadata_for",
    "prepare",
    "run",
    "usable",
]
