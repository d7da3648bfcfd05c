"""Campaign files on disk: finding them in files and folders, and describing each from its footer.

:func:`campaign_files` is the one campaign finder of a dataset (every ``*.parquet`` below the
folders named, runs' ``.parts`` folders and hidden files skipped). :func:`read_footers` reads
each file's footer (its metadata and block table, never its samples) into a :class:`Footer`
(whose ``flagged`` names the blocks the block policy leaves out), and :func:`campaign_row`
flattens one campaign's metadata into the columns of :data:`CAMPAIGN_COLUMNS`, the rows of
:attr:`hvload.datasets.Dataset.campaigns`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CampaignFileError
from ..store import read_footer

__all__ = ["CAMPAIGN_COLUMNS", "Footer", "campaign_files", "campaign_row", "read_footers"]


def campaign_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Campaign files named, or found as ``*.parquet`` below the folders named.

    Files inside a run's ``.parts`` folder and hidden files are skipped; each file is
    listed once, in the order given (folders sorted).

    Raises
    ------
    CampaignFileError
        For a path that does not exist or is not a regular file or folder (a FIFO, a
        device, a socket), or when no file is found at all.
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise CampaignFileError("no campaign files given; name files or a folder")
    found: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*.parquet")):
                rel = f.relative_to(p).parts
                if not any(part.startswith(".") or part.endswith(".parts") for part in rel):
                    found.append(_regular(f))
        elif p.exists():
            found.append(_regular(p))
        else:
            raise CampaignFileError(f"{p}: no such file or folder")
    files = list(dict.fromkeys(f.resolve() for f in found))
    if not files:
        raise CampaignFileError(f"no campaign files (*.parquet) in {[str(i) for i in items]}")
    return files


def _regular(path: Path) -> Path:
    """``path`` if it is a regular file; a FIFO, device or socket is refused in one line.

    Checked here, where every dataset and ``hvload compare`` finds its files, before
    anything opens them: opening a FIFO would block until a writer comes.
    """
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return path
    # The same words as hvload.store's reader uses for load and read_footer.
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))  # fmt: skip
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    raise CampaignFileError(f"{path}: is {kind}, not a campaign file (a regular file)")


@dataclass(frozen=True)
class Footer:
    """What a campaign file's footer says: metadata, block rows and sample count."""

    path: Path
    metadata: dict[str, Any]
    rows: list[dict[str, Any]]
    n_samples: int

    @property
    def version(self) -> int:
        return int(self.metadata["format_version"])

    @property
    def block_rows(self) -> dict[int, dict[str, Any]]:
        return {int(r["block"]): r for r in self.rows}

    @property
    def flagged(self) -> dict[int, str]:
        """The blocks flagged ``load_ok = False``, each with its ``load_problem``.

        The block policy of :func:`hvload.campaign.usable`, read from the footer: such
        a block's load did not run as designed over the probe window, so a dataset
        leaves it out of its statistics unless asked to keep it.
        """
        return {
            int(r["block"]): str(r.get("load_problem") or "load not as designed")
            for r in self.rows
            if r.get("load_ok") is False
        }


def read_footers(files: Iterable[Path]) -> dict[str, Footer]:
    """Each file's footer by campaign id, in the order given.

    Raises
    ------
    CampaignFileError
        For a file that is not an hvload campaign, or one campaign in two files; the
        message names the file.
    """
    footers: dict[str, Footer] = {}
    for path in files:
        metadata, rows, n = read_footer(path)
        cid = metadata["campaign"]
        if cid in footers:
            raise CampaignFileError(
                f"campaign {cid} is in two files, {footers[cid].path} and {path}; a "
                "dataset holds each campaign once (remove the copy)"
            )
        footers[cid] = Footer(path, metadata, rows, n)
    return footers


#: Columns of :attr:`Dataset.campaigns`, in order.
CAMPAIGN_COLUMNS: tuple[str, ...] = (
    "file", "campaign", "synthetic", "host", "cpu_vendor", "cpu_brand", "cpu_family",
    "cpu_model", "cpu_count", "arch", "hypervisor", "kernel", "probe", "probe_kind",
    "probe_instruction", "probe_gap", "levels", "level_values", "n_levels", "baseline",
    "rounds", "samples", "warmup", "seed", "start_utc", "end_utc", "date", "tsc_hz",
    "tsc_method", "hvload_version", "python", "git_commit", "format_version", "n_blocks",
    "n_samples", "complete", "bytes",
)  # fmt: skip


def _get(d: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(key)
    return d


def campaign_row(path: Path, metadata: dict, rows: list[dict], n_samples: int) -> dict[str, Any]:
    """One campaign's metadata flattened into the columns of :data:`CAMPAIGN_COLUMNS`."""
    design = metadata["design"]
    platform_value, probe_value = metadata.get("platform"), design.get("probe")
    platform: dict[str, Any] = platform_value if isinstance(platform_value, dict) else {}
    probe: dict[str, Any] = probe_value if isinstance(probe_value, dict) else {}
    levels = design["levels"]
    start = metadata.get("start_utc")
    synthetic = metadata.get("synthetic")
    return {
        "file": str(path),
        "campaign": metadata["campaign"],
        "synthetic": str(synthetic) if synthetic else "",
        "host": metadata.get("hostname") or platform.get("hostname"),
        "cpu_vendor": platform.get("cpu_vendor"),
        "cpu_brand": platform.get("cpu_brand"),
        "cpu_family": platform.get("cpu_family"),
        "cpu_model": platform.get("cpu_model"),
        "cpu_count": platform.get("cpu_count"),
        "arch": platform.get("arch"),
        "hypervisor": metadata.get("hypervisor") or platform.get("hypervisor"),
        "kernel": platform.get("kernel"),
        "probe": design.get("probe_label"),
        "probe_kind": probe.get("kind"),
        "probe_instruction": probe.get("instruction"),
        "probe_gap": design.get("probe_gap"),
        "levels": ",".join(str(lv["name"]) for lv in levels),
        "level_values": ",".join(f"{lv.get('value')}" for lv in levels),
        "n_levels": len(levels),
        "baseline": design.get("baseline") or levels[0]["name"],
        "rounds": design["rounds"],
        "samples": design["samples"],
        "warmup": design["warmup"],
        "seed": design.get("seed"),
        "start_utc": start,
        "end_utc": metadata.get("end_utc"),
        "date": start[:10] if isinstance(start, str) else None,
        "tsc_hz": metadata.get("tsc_hz"),
        "tsc_method": platform.get("tsc_method"),
        "hvload_version": _get(metadata, "versions", "hvload"),
        "python": _get(metadata, "versions", "python"),
        "git_commit": metadata.get("git_commit"),
        "format_version": metadata["format_version"],
        "n_blocks": len(rows),
        "n_samples": n_samples,
        "complete": len(rows) == design["rounds"] * len(levels),
        "bytes": path.stat().st_size if path.exists() else None,
    }
