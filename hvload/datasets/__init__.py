"""Many campaign files as one dataset (DuckDB, or Dask on a cluster), and campaigns compared.

The modules, each importing only those below it:

* :mod:`~hvload.datasets.compare`: :func:`compare`, campaigns or groups of them against
  each other (statistics in ``_comparison``, grouping and notes in ``_matching``, text in
  ``_compare_text``);
* :mod:`~hvload.datasets.dataset`: :class:`Dataset` and :func:`dataset`, the DuckDB engine;
* :mod:`~hvload.datasets.cluster`: the same block statistics on Dask;
* ``_blocks``: the block statistics both engines share;
* :mod:`~hvload.datasets.files`: finding campaign files and reading their footers.
"""

from ._blocks import BLOCK_COLUMNS, ENGINES, QUANTILES, RAW_COLUMNS, probe_blocks
from .compare import NO_LOAD, UNITS, CampaignComparison, compare, compare_blocks
from .dataset import Dataset, dataset
from .files import CAMPAIGN_COLUMNS, Footer, campaign_files, campaign_row

__all__ = [
    "BLOCK_COLUMNS",
    "CAMPAIGN_COLUMNS",
    "ENGINES",
    "NO_LOAD",
    "QUANTILES",
    "RAW_COLUMNS",
    "UNITS",
    "CampaignComparison",
    "Dataset",
    "Footer",
    "campaign_files",
    "campaign_row",
    "compare",
    "compare_blocks",
    "dataset",
    "probe_blocks",
]
