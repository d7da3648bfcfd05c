"""Many campaign files as one dataset, queried out of core with DuckDB.

:func:`dataset` opens campaign files (or every ``*.parquet`` below a folder) by reading
only their footers: the metadata and block table each file carries. What it offers:

* :attr:`Dataset.campaigns`: one row per campaign, its metadata flattened into columns
  (host, CPU, hypervisor, kernel, probe, levels, rounds, dates, versions, commit, ...);
* :meth:`Dataset.block_table`: one row per block with its statistics (sample counts,
  min, median, p99, max) computed by the engine, file by file, so memory is bounded by
  one file's analysed samples and the per-block results, never by the dataset;
* :meth:`Dataset.levels`: per campaign and level, the typical block median and p99 with
  the same order-statistic intervals as :func:`hvload.analyze`;
* the block policy of ``hvload report``: blocks a footer flags ``load_ok = False`` (load
  that did not run as designed over the probe window) are left out of the block table,
  the levels and the comparisons unless ``include_flagged=True``;
* the samples themselves only when asked: :meth:`Dataset.samples`, :meth:`Dataset.load`,
  :meth:`Dataset.sql`;
* :meth:`Dataset.compare`: campaigns or groups of campaigns against each other
  (:mod:`hvload.datasets.compare`).

The engine is DuckDB (embedded, no server; ``pip install 'hvload[dataset]'``). The same
aggregation runs on a Dask cluster with ``engine="dask", client=...``
(:mod:`hvload.datasets.cluster`, ``pip install 'hvload[cluster]'``). Both find the order
statistics a quantile needs in the engine and interpolate them with the one type-7
formula of :func:`hvload.stats.blocks.type7`, so DuckDB, Dask and :func:`hvload.analyze`
agree to the last bit.

The engines do not check the page checksums and block digests of the samples (the
footers' own digest is checked on opening), so before any statistic is computed the
dataset verifies every file once with :func:`hvload.load`'s full verification
(:meth:`Dataset.verify`; a damaged file raises
:class:`~hvload.errors.CorruptCampaignError` naming the file and the block). That read
is the bulk of the time and memory (one whole file at a time): on data/ (6 campaigns,
15.5 million samples) ``levels()`` took about 6 s verified against 2 s unverified, with
a peak RSS of 870 MiB against 390 MiB.
``verify=False`` skips that, and :attr:`Dataset.notes` (hence the notes of a comparison
and ``levels().attrs["notes"]``) says the numbers rest on unverified files.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._optional import require_extra
from ..errors import CampaignFileError
from ..model import probes_of
from ..stats.config import DEFAULT, AnalysisConfig
from ._blocks import (
    ENGINES,
    QUANTILES,
    RAW_COLUMNS,
    admit_blocks,
    check_config,
    finish_blocks,
    level_table,
    probe_blocks,
)
from ._comparison import CampaignComparison, compare_blocks, settings
from .cluster import raw_block_stats, verify_on
from .files import CAMPAIGN_COLUMNS, Footer, campaign_files, campaign_row, read_footers

if TYPE_CHECKING:
    from ..model import Campaign
    from .compare import CampaignComparison

__all__ = ["NOT_VERIFIED", "Dataset", "dataset"]

#: The note of a dataset opened with ``verify=False``.
NOT_VERIFIED = (
    "NOT VERIFIED (verify=False): the files' page checksums and block digests were not "
    "checked; a damaged file gives wrong numbers here"
)


# -- DuckDB -----------------------------------------------------------------------------------


def _metric_sql(metric: str, version: int) -> str:
    if metric == "cycles":
        return "cycles"
    return "cycles + late" if version >= 4 else "response"


def _probe_sql(version: int) -> str:
    """Files before format 3 hold the main probe only."""
    return "probe_index" if version >= 3 else "0"


def _keep_sql(exclude: Sequence[str]) -> str:
    terms = [f"NOT {flag}" for flag in exclude]
    return " AND ".join(terms) if terms else "TRUE"


def _duckdb_block_sql(
    metric: str, version: int, exclude: Sequence[str], probe_index: int | None = None
) -> str:
    """Per-block counts and order statistics of one file (parameter $path); of every probe,
    or of the one at ``probe_index``."""
    x = _metric_sql(metric, version)
    where = f"WHERE probe_index = {int(probe_index)}" if probe_index is not None else ""
    picks = []
    for name, q in QUANTILES.items():
        # (n - 1) * q in double precision, as numpy computes it: the same ranks.
        k = f"floor((len(v) - 1)::DOUBLE * {q!r}::DOUBLE)::BIGINT"
        picks.append(
            f"{k} AS k_{name}, v[{k} + 1] AS lo_{name}, v[least({k} + 2, len(v))] AS hi_{name}"
        )
    return f"""
        WITH g AS (
            SELECT campaign, block, {_probe_sql(version)} AS probe_index,
                   min(round) AS round, min(level_index) AS level_index,
                   count(*) AS n_total,
                   count(*) FILTER (WHERE warmup) AS n_warmup,
                   count(*) FILTER (WHERE migrated) AS n_migrated,
                   list_sort(list({x}) FILTER (WHERE {_keep_sql(exclude)})) AS v
            FROM read_parquet($path) {where}
            GROUP BY campaign, block{", probe_index" if version >= 3 else ""}
        )
        SELECT campaign, block, probe_index, round, level_index, n_total, n_warmup, n_migrated,
               coalesce(len(v), 0) AS n, v[1] AS min, v[len(v)] AS max, {", ".join(picks)}
        FROM g ORDER BY block, probe_index
    """


def _connect(threads: int | None, memory_limit: str | None) -> Any:
    duckdb = require_extra("duckdb", "hvload.dataset")
    con = duckdb.connect(database=":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    # Results in any order: less memory, and every query here sorts what it returns.
    con.execute("SET preserve_insertion_order = false")
    return con


# -- the dataset ------------------------------------------------------------------------------


class Dataset:
    """Campaign files as one dataset; see the module notes and :func:`dataset`.

    Attributes
    ----------
    files : tuple of pathlib.Path
        The campaign files, in order.
    campaigns : pandas.DataFrame
        One row per campaign (:data:`CAMPAIGN_COLUMNS`), read from the footers.
    verify_files : bool
        Whether every file is verified before its statistics are used (default True).
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        threads: int | None = None,
        memory_limit: str | None = "1GB",
        verify: bool = True,
    ) -> None:
        self.files = tuple(campaign_files(paths))
        self.threads = threads
        self.memory_limit = memory_limit
        self.verify_files = verify
        self._verified: set[Path] = set()
        footers = read_footers(self.files)
        self._footers = footers
        self.campaigns = pd.DataFrame(
            [campaign_row(f.path, f.metadata, f.rows, f.n_samples) for f in footers.values()],
            columns=list(CAMPAIGN_COLUMNS),
        )
        self._con: Any = None

    def __len__(self) -> int:
        return len(self._footers)

    def __repr__(self) -> str:
        n = int(self.campaigns["n_samples"].sum())
        return f"<hvload Dataset: {len(self)} campaigns, {n:,} samples>"

    @property
    def footers(self) -> dict[str, Footer]:
        """Each campaign's footer by campaign id."""
        return dict(self._footers)

    @property
    def notes(self) -> tuple[str, ...]:
        """What the dataset's statistics rest on: :data:`NOT_VERIFIED` when not verified."""
        return () if self.verify_files else (NOT_VERIFIED,)

    def _checked(self, client: Any = None) -> None:
        # Once per file: the engines read the samples without checking them. With a Dask
        # client the workers verify, so the samples stay on the cluster.
        if not self.verify_files:
            return
        if client is None:
            self.verify()
            return
        todo = [f.path for f in self._footers.values() if f.path not in self._verified]
        if todo:
            verify_on(client, todo)
            self._verified.update(todo)

    def _connection(self) -> Any:
        if self._con is None:
            self._con = _connect(self.threads, self.memory_limit)
        return self._con

    def close(self) -> None:
        """Close the DuckDB connection (a new one opens when needed)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- block statistics ---------------------------------------------------------------

    def block_table(
        self,
        config: AnalysisConfig | None = None,
        *,
        engine: str = "duckdb",
        client: Any = None,
        progress: Any = None,
        probe_only: bool = False,
        include_flagged: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        """One row per block and probe of every campaign, with its statistics
        (:data:`BLOCK_COLUMNS`).

        Parameters
        ----------
        config : AnalysisConfig, optional
            Which samples are left out (``exclude``: warm-up by default; ``"migrated"``)
            and which ``metric``; :data:`hvload.stats.DEFAULT` when not given.
        engine : {"duckdb", "dask"}
            DuckDB file by file on this machine, or Dask (``client``: a
            ``distributed.Client``; without one, Dask's default scheduler).
        progress : callable, optional
            Called with ``(files done, files)`` after each file (DuckDB).
        probe_only : bool, default False
            Only the probe ``config.probe`` names (each campaign's main probe by
            default), as :meth:`levels` and :meth:`compare` need: with two controls, a
            third of the work (DuckDB; Dask computes every probe).
        include_flagged : bool, default False
            Keep the blocks a file's block table flags ``load_ok = False``; by default
            they are left out, as :func:`hvload.analyze` and ``hvload report`` leave
            them out (:attr:`Footer.flagged` names them).
        **options
            Fields of :class:`AnalysisConfig` to change.

        Returns
        -------
        pandas.DataFrame
            ``n_total``, ``n_warmup``, ``n_migrated`` count every sample of the block;
            ``n`` those analysed; ``min``, ``median``, ``p99``, ``max`` are of those
            (type-7 quantiles, NaN when none is left), in TSC cycles.
        """
        config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
        check_config(config)
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r} is not allowed; choose from {list(ENGINES)}")
        if engine == "duckdb":
            self._connection()  # a missing engine is named before the files are verified
        self._checked(client if engine == "dask" else None)
        if engine == "dask":
            raw = raw_block_stats(self, config, client=client)
        else:
            raw = self._duckdb_raw(config, progress, probe_only)
        blocks, _ = admit_blocks(finish_blocks(raw, self._footers), self._footers, include_flagged)
        if probe_only:
            blocks, _ = probe_blocks(blocks, {c: f.metadata for c, f in self._footers.items()},
                                     config.probe)  # fmt: skip
            blocks = blocks.reset_index(drop=True)
        return blocks

    def _duckdb_raw(self, config: AnalysisConfig, progress: Any, probe_only: bool) -> pd.DataFrame:
        con = self._connection()
        duckdb = require_extra("duckdb", "hvload.dataset")
        parts = []
        footers = list(self._footers.values())
        for i, footer in enumerate(footers):
            index = None
            if probe_only and footer.version >= 3:
                labels = probes_of(footer.metadata["design"])
                if config.probe is not None and config.probe not in labels:
                    continue
                index = 0 if config.probe is None else labels.index(config.probe)
            sql = _duckdb_block_sql(config.metric, footer.version, config.exclude, index)
            try:
                parts.append(con.execute(sql, {"path": str(footer.path)}).df())
            except duckdb.Error as exc:
                # Only unverified files get here damaged (verify=False): one line, not
                # DuckDB's traceback.
                raise CampaignFileError(
                    f"{footer.path}: DuckDB cannot read its samples ({exc}); verify the file "
                    "(hvload.load, or without --no-verify) to find the damaged block"
                ) from None
            if progress is not None:
                progress(i + 1, len(footers))
        if not parts:  # no campaign has the probe asked for
            return pd.DataFrame({c: pd.Series(dtype="int64") for c in RAW_COLUMNS})
        return pd.concat(parts, ignore_index=True)

    def levels(
        self,
        config: AnalysisConfig | None = None,
        *,
        blocks: pd.DataFrame | None = None,
        engine: str = "duckdb",
        client: Any = None,
        include_flagged: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        """Per campaign and level: the typical block median and p99 with their intervals.

        Of one probe: ``config.probe`` (a label), each campaign's main probe by default;
        campaigns without that probe are left out. The typical block statistic is the
        median over the level's blocks, with the distribution-free order-statistic
        interval of :func:`hvload.analyze`
        (:mod:`hvload.stats.intervals`), at ``1 - alpha``. Levels are listed in order
        of increasing load within each campaign. ``blocks`` reuses a
        :meth:`block_table` already computed. Blocks flagged ``load_ok = False`` are
        left out (also of ``blocks``) unless ``include_flagged``.

        Returns
        -------
        pandas.DataFrame
            ``file, campaign, probe, level, level_index, level_value, load_order,
            n_blocks, n``
            and per statistic (``median``, ``p99``) its value, ``_ci_low``, ``_ci_high``
            in cycles and the same in ns (``_ns``; NaN without a TSC frequency). Its
            ``attrs["notes"]`` are :attr:`notes`.
        """
        config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
        self._checked(client if engine == "dask" else None)
        if blocks is None:
            blocks = self.block_table(config, engine=engine, client=client, probe_only=True,
                                      include_flagged=include_flagged)  # fmt: skip
        blocks, _ = admit_blocks(blocks, self._footers, include_flagged)
        table = level_table(blocks, self._footers, config.confidence, config.probe)
        table.attrs["notes"] = list(self.notes)
        return table

    # -- samples, only when asked ------------------------------------------------------------

    def load(self, which: int | str) -> Campaign:
        """One campaign read whole with :func:`hvload.load` (verified), by index or id."""
        from ..store import load

        return load(self._footer(which).path)

    def _footer(self, which: int | str) -> Footer:
        footers = list(self._footers.values())
        if isinstance(which, int) and not isinstance(which, bool):
            if not -len(footers) <= which < len(footers):
                raise ValueError(f"campaign {which} is not in the dataset (0..{len(footers) - 1})")
            return footers[which]
        for f in footers:
            if which in (f.metadata["campaign"], str(f.path), f.path.name):
                return f
        raise ValueError(f"campaign {which!r} is not in the dataset (an id, a file or an index)")

    def verify(self) -> None:
        """Read every file with :func:`hvload.load` (checksums, digests, values), one at a
        time; raises the first :class:`~hvload.errors.CorruptCampaignError`, which names
        the file and the block. A file that passed is not read again by this dataset."""
        from ..store import StoredCampaign

        for footer in self._footers.values():
            if footer.path not in self._verified:
                # load's checks, block by block: one block in memory, not one file.
                StoredCampaign.verified(footer.path)
                self._verified.add(footer.path)

    def _samples_view(self, con: Any) -> str:
        """A view ``samples`` over every file in the measured columns (``start`` absolute)."""
        common = "campaign, round, level, level_index, block"
        tail = "rax, cpu, migrated, warmup, filename AS file"
        by_layout: dict[str, list[str]] = {}
        for f in self._footers.values():
            layout = "due" if f.version >= 4 else ("probes" if f.version == 3 else "legacy")
            by_layout.setdefault(layout, []).append(str(f.path))
        select = {
            "due": "probe_index, sample, due + late AS start, cycles, cycles + late AS response",
            "probes": "probe_index, sample, start, cycles, response",
            "legacy": "0::SMALLINT AS probe_index, sample, start, cycles, response",
        }
        parts = [
            f"SELECT {common}, {select[layout]}, {tail} "
            f"FROM read_parquet({files!r}, filename = true)"
            for layout, files in by_layout.items()
        ]
        con.execute("CREATE OR REPLACE TEMP VIEW samples AS " + " UNION ALL BY NAME ".join(parts))
        con.register("campaigns", self.campaigns)
        return "samples"

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        """Run a DuckDB query over views ``samples`` (every sample of every file, in the
        measured columns, ``start`` in absolute TSC ticks, plus ``file``) and
        ``campaigns``; returns the DuckDB result (``.df()``, ``.fetchall()``, ...).

        Memory is what the query needs: aggregate in the query rather than fetching
        samples. The files are verified first (once), unless the dataset was opened with
        ``verify=False``.
        """
        self._checked()
        con = self._connection()
        self._samples_view(con)
        return con.execute(query, params) if params is not None else con.execute(query)

    def samples(
        self,
        columns: Sequence[str] = ("campaign", "level", "block", "cycles"),
        *,
        campaigns: Sequence[str] | None = None,
        levels: Sequence[str] | None = None,
        config: AnalysisConfig | None = None,
    ) -> pd.DataFrame:
        """The samples of some columns, campaigns and levels, as one pandas table.

        Only what is asked is read; ``config.exclude`` (warm-up by default) leaves
        samples out. Text columns come back as categoricals. ``start`` is in absolute
        TSC ticks here. The files are verified first (once), unless the dataset was
        opened with ``verify=False``.
        """
        from ..model import SAMPLE_COLUMNS

        config = config or DEFAULT
        check_config(config)
        unknown = [c for c in columns if c not in (*SAMPLE_COLUMNS, "file")]
        if unknown or not columns:
            raise ValueError(f"columns {list(columns)}: choose from {[*SAMPLE_COLUMNS, 'file']}")
        self._checked()
        con = self._connection()
        self._samples_view(con)
        where = [f"NOT {flag}" for flag in config.exclude]
        params: list[Any] = []
        if campaigns is not None:
            ids = [self._footer(c).metadata["campaign"] for c in campaigns]
            where.append("campaign IN (SELECT unnest(?))")
            params.append(ids)
        if levels is not None:
            where.append("level IN (SELECT unnest(?))")
            params.append([str(x) for x in levels])
        query = f"SELECT {', '.join(columns)} FROM samples"
        if where:
            query += " WHERE " + " AND ".join(where)
        relation = con.sql(query, params=params)
        # DuckDB 2 names it to_arrow_table; 1.x arrow (a table, or a reader in 1.4).
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
        table = fetch()
        if hasattr(table, "read_all"):
            table = table.read_all()
        for name in ("campaign", "level", "file"):
            if name in table.column_names:
                i = table.schema.get_field_index(name)
                table = table.set_column(i, name, table.column(name).dictionary_encode())
        return table.to_pandas()

    # -- comparing ---------------------------------------------------------------------------

    def compare(
        self,
        by: str | None = None,
        *,
        reference: str | None = None,
        unit: str = "auto",
        config: AnalysisConfig | None = None,
        blocks: pd.DataFrame | None = None,
        engine: str = "duckdb",
        client: Any = None,
        include_flagged: bool = False,
        **options: Any,
    ) -> CampaignComparison:
        """Campaigns (or groups of them, ``by`` a column of :attr:`campaigns`) against
        each other; see :func:`hvload.datasets.compare` for the parameters."""
        config = settings(config, unit, options)
        # Also before a block table passed in is used: it came from these files' samples.
        self._checked(client if engine == "dask" else None)
        if blocks is None:
            blocks = self.block_table(config, engine=engine, client=client, probe_only=True,
                                      include_flagged=include_flagged)  # fmt: skip
        # Also on a table passed in: the notes must say what the comparison rests on.
        blocks, left_out = admit_blocks(blocks, self._footers, include_flagged)
        metadata = {cid: f.metadata for cid, f in self._footers.items()}
        result = compare_blocks(
            blocks, self.campaigns, metadata, by=by, reference=reference, unit=unit,
            config=config, left_out_blocks=left_out,
        )  # fmt: skip
        return dataclasses.replace(result, notes=result.notes + self.notes)


def dataset(
    paths_or_directory: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    threads: int | None = None,
    memory_limit: str | None = "1GB",
    verify: bool = True,
) -> Dataset:
    """Open campaign files, or every ``*.parquet`` below a folder, as one :class:`Dataset`.

    Parameters
    ----------
    paths_or_directory
        A file, a folder, or a list of them.
    threads, memory_limit
        DuckDB's settings (its default thread count; 1 GB, beyond which DuckDB spills
        to disk or fails rather than grow).
    verify : bool, default True
        Verify every file (page checksums, block digests, values: :meth:`Dataset.verify`)
        once, before its statistics are first used. ``False`` skips it, and the notes of
        what the dataset computes say so.

    Raises
    ------
    CampaignFileError
        For a missing path, a path that is not a regular file or folder, a file that is
        not an hvload campaign, or one campaign in two files; the message names the file.
        A file that fails verification raises
        :class:`~hvload.errors.CorruptCampaignError` (naming the file and the block) when
        the statistics are first asked for.
    MissingExtraError
        When DuckDB is needed and not installed (``pip install 'hvload[dataset]'``).
    """
    return Dataset(paths_or_directory, threads=threads, memory_limit=memory_limit, verify=verify)
