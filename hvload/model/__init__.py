"""The campaign data model: designs, blocks, campaigns, the sample schema and the metadata.

A leaf package: :mod:`hvload.campaign` (which runs designs) and :mod:`hvload.store` (which
writes and reads campaign files) both import it, and it imports neither. It also holds
the size limits both of them apply before allocating anything: a design whose data
would not fit in this machine's memory is refused when it is built, and a file that
claims more samples than that is refused before it is read.

Modules: :mod:`._design` (designs, blocks, campaigns, size limits), :mod:`._samples` (the
sample schema, lean and wide tables), :mod:`.metadata` (the registry of metadata keys,
the format versions, :class:`CampaignMeta`).
"""

from ._design import (
    BYTES_PER_BLOCK,
    BYTES_PER_SAMPLE,
    BlockResult,
    Campaign,
    Design,
    available_memory,
    check_sizes,
    design_problem,
    probes_of,
)
from ._samples import (
    LEAN_KINDS,
    LEGACY_COLUMNS,
    SAMPLE_COLUMNS,
    SAMPLE_DTYPES,
    LeanBuilder,
    absolute_start,
    concat_lean,
    lean_campaign,
    lean_columns,
    lean_samples,
    sample_columns,
    wide_samples,
)
from .metadata import FORMAT_VERSION, FORMAT_VERSIONS, REGISTRY, CampaignMeta

__all__ = [
    "BYTES_PER_BLOCK",
    "BYTES_PER_SAMPLE",
    "FORMAT_VERSION",
    "FORMAT_VERSIONS",
    "LEAN_KINDS",
    "LEGACY_COLUMNS",
    "REGISTRY",
    "SAMPLE_COLUMNS",
    "SAMPLE_DTYPES",
    "BlockResult",
    "Campaign",
    "CampaignMeta",
    "Design",
    "LeanBuilder",
    "absolute_start",
    "available_memory",
    "check_sizes",
    "concat_lean",
    "design_problem",
    "lean_campaign",
    "lean_columns",
    "lean_samples",
    "probes_of",
    "sample_columns",
    "wide_samples",
]
