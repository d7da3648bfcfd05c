"""Campaigns against campaigns: is machine B's exit slower than A's, and at which load?

:func:`compare` takes a :class:`~hvload.datasets.Dataset` (or files, or folders) and groups
its campaigns: one group per file, or by any column of :attr:`Dataset.campaigns`
(``by="cpu_brand"``). Every group is compared with a reference group (the first), level
by level, on the block median and the block p99.

Campaigns share no rounds, so nothing is paired: each test compares two independent
samples of log block statistics with the Wilcoxon-Mann-Whitney test and the
Hodges-Lehmann shift with its matching interval (:mod:`hvload.stats.twosample`). The
unit of replication is chosen per level (``unit="auto"``):

* ``campaign``: one value per campaign (its typical block statistic, the median over
  its blocks), when every group has at least two campaigns with that level and the test
  can reach ``alpha`` after the correction. Campaigns are then the independent units,
  and a difference generalises to the campaigns such a machine gives;
* ``block``: every block of the group's campaigns, otherwise. This compares these
  campaigns: with one campaign per group, a campaign's own conditions (the host's load
  that day) cannot be told from the machine, which the output says.

p-values are adjusted over all comparisons (Holm by default) and each gets the verdict
of :func:`hvload.stats.compare.verdict` with the practical threshold. Times are compared
in ns (each campaign's cycles over its own TSC frequency) whenever every campaign
records its TSC frequency: cycles of two clocks are not the same unit.

Every file is verified (page checksums, block digests, values, as :func:`hvload.load`
verifies) before its statistics are used; ``verify=False`` skips that and says so in the
notes.

Blocks a file flags ``load_ok = False`` (load that did not run as designed over the probe
window) are left out, as ``hvload report`` leaves them out; the notes say how many per
campaign (``include_flagged=True`` keeps them).

What can be compared is said, not assumed: levels are matched by name, and every level
without load workers is matched as ``no load`` whatever it is called (an A/A campaign's
no-load levels are pooled). Levels one group lacks are listed and left out; different
probes, hypervisors, block sizes or level definitions are named as caveats.

The A/A calibration and the power of these tests are asserted by
``tests/test_compare.py`` on SYNTHETIC campaigns of 12 rounds x 5 levels x 500 samples per
block, one campaign per group (``tests/stats_synthetic.py``): at most 7 % of 200 pairs of
campaigns from one distribution get a ``slower`` or ``faster`` verdict (the ``mild``,
``heavy`` and ``wild`` noise models), and a 5 % change of every level is found (``slower``) in at
least 80 % of 200 pairs at each level (``mild``).

This module is the entry point; the statistics are in :mod:`hvload.datasets._comparison`,
the grouping, level matching and notes in :mod:`hvload.datasets._matching` and the printed
text in :mod:`hvload.datasets._compare_text`.
"""

import os
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..stats.config import AnalysisConfig
from ._comparison import UNITS, CampaignComparison, compare_blocks, settings
from ._matching import NO_LOAD
from .dataset import Dataset, dataset

__all__ = ["NO_LOAD", "UNITS", "CampaignComparison", "compare", "compare_blocks"]


def compare(
    data: Dataset | str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    by: str | None = None,
    reference: str | None = None,
    unit: str = "auto",
    config: AnalysisConfig | None = None,
    blocks: pd.DataFrame | None = None,
    engine: str = "duckdb",
    client: Any = None,
    include_flagged: bool = False,
    verify: bool = True,
    **options: Any,
) -> CampaignComparison:
    """Compare campaigns, or groups of campaigns, level by level (see the module notes).

    Parameters
    ----------
    data : Dataset, path or paths
        The campaigns: a :class:`~hvload.datasets.Dataset`, files or folders.
    by : str, optional
        A column of :attr:`Dataset.campaigns` (``cpu_brand``, ``host``, ``kernel``,
        ...) whose values form the groups; by default every file is its own group.
    reference : str, optional
        The group the others are compared with; the first group by default.
    unit : {"auto", "block", "campaign"}
        Unit of replication of the tests (see the module notes).
    config : AnalysisConfig, optional
        ``alpha``, ``threshold``, ``correction``, ``exclude`` (``warmup`` and
        ``migrated`` only) and ``metric``; :data:`hvload.stats.DEFAULT` by default.
    blocks : pandas.DataFrame, optional
        A :meth:`Dataset.block_table` already computed with the same ``config``.
    engine, client
        As for :meth:`Dataset.block_table`.
    include_flagged : bool, default False
        Keep the blocks flagged ``load_ok = False``; by default they are left out, as
        ``hvload report`` leaves them out, and the notes say how many per campaign.
    verify : bool, default True
        Verify every file (page checksums, block digests, values) before its statistics
        are used, as :func:`hvload.load` does; ``False`` skips it and the notes say so.
        A :class:`~hvload.datasets.Dataset` passed in keeps its own setting.
    **options
        Fields of :class:`AnalysisConfig` to change, e.g. ``threshold=0.02``.

    Returns
    -------
    CampaignComparison

    Raises
    ------
    ValueError
        For an unknown ``by`` column, ``reference`` or ``unit``, fewer than two groups,
        or an option the dataset cannot apply; the message names the value.
    CorruptCampaignError
        For a file that fails verification; the message names the file and the block.
    """
    # Settings the dataset cannot apply are refused before any file is opened.
    config = settings(config, unit, options)
    ds = data if isinstance(data, Dataset) else dataset(data, verify=verify)
    return ds.compare(
        by,
        reference=reference,
        unit=unit,
        config=config,
        blocks=blocks,
        engine=engine,
        client=client,
        include_flagged=include_flagged,
    )
