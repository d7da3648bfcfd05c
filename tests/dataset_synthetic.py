"""SYNTHETIC campaign files for the storage, dataset and comparison tests and benchmarks.

Nothing written here was measured as it stands:

* :func:`default_from_measured` rearranges the MEASURED samples of a campaign in
  ``data/`` into the shape of today's default design (40 rounds x 5 levels x (200
  warm-up + 5,000) samples): each new block is a run of consecutive samples of a real
  block of the same level, so values, their order and their timestamps are real, but
  the campaign as a whole never ran. It is what "a newly written default campaign"
  means in the storage tests: real values are what compression depends on.
* :func:`synthetic_file` and :func:`synthetic_dataset` write campaigns whose cycles come
  from the noise models of ``stats_synthetic.py``, with plausible timestamps (an
  open-loop probe), metadata saying ``"synthetic"`` and machine names that say so too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from stats_synthetic import DEFAULT_LEVELS, MODELS, synthetic_cycles

from hvload import store
from hvload.measure.executor import make_trap
from hvload.model import SAMPLE_COLUMNS, Campaign
from hvload.store import _format

__all__ = [
    "MACHINES",
    "default_from_measured",
    "default_with_controls",
    "synthetic_dataset",
    "synthetic_file",
]

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "data" / "amd-epyc-2vcpu-default.parquet"

#: Machines the synthetic campaigns claim, each labelled SYNTHETIC in every name.
MACHINES: dict[str, dict[str, Any]] = {
    "amd": {"cpu_vendor": "AuthenticAMD", "cpu_brand": "SYNTHETIC AMD EPYC", "cpu_family": 25,
            "cpu_model": 17, "instruction": "vmmcall", "tsc_hz": 2.6e9, "host": "synthetic-a"},
    "intel": {"cpu_vendor": "GenuineIntel", "cpu_brand": "SYNTHETIC Intel Xeon",
              "cpu_family": 6, "cpu_model": 207, "instruction": "vmcall", "tsc_hz": 2.1e9,
              "host": "synthetic-b"},
}  # fmt: skip


def default_from_measured(
    source: Path = MEASURED, *, rounds: int = 40, samples: int = 5_000, warmup: int = 200
) -> Campaign:
    """Measured samples of ``source`` cut into a default-sized campaign (see module notes)."""
    camp = store.load(source)
    from hvload.model import wide_samples

    wide = wide_samples(camp.samples, camp.blocks)
    per_old = len(wide) // len(camp.blocks)
    per = warmup + samples
    n_old_rounds = int(camp.blocks["round"].max()) + 1
    slices = max(1, per_old // per)
    index = {(int(r["round"]), int(r["level_index"])): i
             for i, r in enumerate(camp.blocks.to_dict("records"))}  # fmt: skip
    meta = copy.deepcopy(camp.metadata)
    meta["design"].update(rounds=rounds, samples=samples, warmup=warmup, seed=0)
    meta["campaign"] = "resampled0001"
    meta["synthetic"] = (
        f"measured samples of {source.name} rearranged into a default-sized campaign by "
        "tests/dataset_synthetic.py; no campaign of this shape ran"
    )
    n_levels = len(meta["design"]["levels"])
    order = [np.random.default_rng(r).permutation(n_levels) for r in range(rounds)]
    cols = {c: wide[c].to_numpy() for c in SAMPLE_COLUMNS}
    frames, rows = [], []
    block = 0
    for r in range(rounds):
        for position, lv in enumerate(order[r].tolist()):
            i = index[(r % n_old_rounds, lv)]
            lo = i * per_old + ((r // n_old_rounds) % slices) * per
            part = {c: cols[c][lo : lo + per] for c in SAMPLE_COLUMNS}
            part.update(
                campaign=np.full(per, meta["campaign"], dtype=object),
                round=np.full(per, r, np.int32),
                block=np.full(per, block, np.int32),
                sample=np.arange(per, dtype=np.int64),
                warmup=np.arange(per) < warmup,
            )
            frames.append(pd.DataFrame(part))
            row = {k: v for k, v in camp.blocks.iloc[i].to_dict().items() if k != "start_tsc"}
            row = json.loads(_format._dumps(row))
            row.update(campaign=meta["campaign"], round=r, block=block, position=position)
            row.pop("sha256", None)
            row.pop("n_samples", None)
            rows.append(row)
            block += 1
    return Campaign(pd.concat(frames, ignore_index=True), pd.DataFrame(rows), meta)


CONTROLS = ROOT / "data" / "intel-xeon-16vcpu-controls.parquet"


def default_with_controls(source: Path = CONTROLS, *, rounds: int = 40) -> Campaign:
    """The first ``rounds`` rounds and 5 levels of a MEASURED campaign with controls.

    ``data/intel-xeon-16vcpu-controls.parquet`` has the default block (the probe and two
    controls, 200 + 5,000 samples each) at 60 rounds x 6 levels; its first 40 rounds of
    its 5 lowest loads have the default design's shape. Every block is kept as measured;
    only the design in the metadata shrinks, and says so.
    """
    camp = store.load(source)
    keep_levels = 5
    blocks = camp.blocks
    chosen = blocks[(blocks["round"] < rounds) & (blocks["level_index"] < keep_levels)]
    rows = camp.samples["block"].isin(chosen["block"]).to_numpy()
    meta = copy.deepcopy(camp.metadata)
    meta["design"]["rounds"] = rounds
    meta["design"]["levels"] = meta["design"]["levels"][:keep_levels]
    meta["synthetic"] = (
        f"the first {rounds} rounds and {keep_levels} levels of the measured {source.name}, "
        "cut by tests/dataset_synthetic.py; blocks as measured"
    )
    samples = camp.samples[rows].reset_index(drop=True)
    return Campaign(samples, chosen.reset_index(drop=True), meta)


def _metadata(cid: str, machine: str, levels: Sequence[str], rounds: int, samples: int,
              warmup: int, gap: int, seed: int, day: int) -> dict[str, Any]:  # fmt: skip
    m = MACHINES[machine]
    probe = {"kind": "hypercall", "instruction": m["instruction"], "convention": "kvm"}
    design = {
        "probe": probe,
        "probe_label": f"hypercall/{m['instruction']}",
        "levels": [
            {
                "name": name,
                "value": i / max(1, len(levels) - 1),
                "workers": [{"cpu": 1, "trap": probe, "schedule": "constant"}] if i else [],
            }
            for i, name in enumerate(levels)
        ],
        "probe_cpu": 0,
        "samples": samples,
        "rounds": rounds,
        "warmup": warmup,
        "probe_gap": gap,
        "settle": 0.01,
        "seed": seed,
        "baseline": levels[0],
    }
    platform = {
        "hostname": m["host"], "arch": "x86_64", "kernel": "Linux SYNTHETIC",
        "cpu_vendor": m["cpu_vendor"], "cpu_brand": m["cpu_brand"],
        "cpu_family": m["cpu_family"], "cpu_model": m["cpu_model"], "cpu_count": 2,
        "hypervisor": "KVM", "tsc_hz": m["tsc_hz"], "tsc_method": "synthetic",
    }  # fmt: skip
    return {
        "format": "hvload-campaign",
        "format_version": 3,
        "campaign": cid,
        "synthetic": "made by tests/dataset_synthetic.py; nothing was measured",
        "start_utc": f"2026-01-{1 + day % 28:02d}T00:00:00Z",
        "end_utc": f"2026-01-{1 + day % 28:02d}T00:01:00Z",
        "tsc_hz": m["tsc_hz"],
        "hypervisor": "KVM",
        "cpu": f"{m['cpu_vendor']} {m['cpu_brand']}",
        "hostname": m["host"],
        "git_commit": None,
        "versions": {"hvload": "synthetic", "python": "synthetic"},
        "platform": platform,
        "design": design,
    }


def synthetic_file(
    path: Path,
    seed: int,
    *,
    machine: str = "amd",
    model: str = "mild",
    levels: Sequence[str] = DEFAULT_LEVELS,
    n_rounds: int = 12,
    n_samples: int = 500,
    warmup: int = 20,
    shift: Sequence[float] | None = None,
    base: float = 1.0,
    controls: Sequence[str] = (),
    format_version: int = 4,
    verify: bool = True,
) -> Path:
    """Write one SYNTHETIC campaign file and return its path.

    ``base`` scales every latency (a slower machine); ``shift`` per level as in
    :func:`stats_synthetic.synthetic_cycles`. ``controls`` (labels, e.g. ``("null",)``)
    adds control probes measured in every block, closed loop, at about 40 cycles.
    ``format_version=3`` writes the layout of format 3 (``start`` and ``response`` as
    measured) the way hvload wrote it then. ``verify=False`` skips reading it back.
    """
    rng = np.random.default_rng(seed)
    n_levels = len(levels)
    per = warmup + n_samples
    scale = base * np.ones(n_levels) * (1.0 if shift is None else np.asarray(shift))
    cycles, order = synthetic_cycles(rng, n_levels, n_rounds, per, shift=scale, **MODELS[model])
    gap = 130_000
    meta = _metadata(f"synthetic{seed:06d}", machine, levels, n_rounds, n_samples, warmup, gap,
                     seed, seed)  # fmt: skip
    if controls:
        # As a real design records them (Trap.to_dict), so the file reads back.
        meta["design"]["controls"] = [make_trap(c.split("/")[0]).to_dict() for c in controls]
        meta["design"]["probes"] = [meta["design"]["probe_label"], *controls]
    cid = meta["campaign"]
    n_blocks = n_rounds * n_levels
    k = 1 + len(controls)
    level_seq = order.ravel()
    round_seq = np.repeat(np.arange(n_rounds), n_levels)
    values = cycles[round_seq, level_seq]  # (blocks, per) in measurement order
    late = 80 + rng.integers(0, 200, values.shape)
    origin = 10**12 + np.arange(n_blocks)[:, None] * (per * gap + 10**7)
    due = origin + np.arange(per)[None, :] * gap
    names = np.asarray(levels, dtype=object)
    tables, rows = [], []
    sample = np.tile(np.arange(per, dtype=np.int64), k)
    probe = np.repeat(np.arange(k, dtype=np.int16), per)
    for b in range(n_blocks):
        lv = int(level_seq[b])
        ctl = 40 + rng.integers(0, 8, (k - 1) * per)  # closed loop: response = cycles
        ctl_start = due[b][-1] + 10**6 + np.cumsum(ctl + 30)
        frame = pd.DataFrame({
            "campaign": cid, "round": np.full(k * per, round_seq[b], np.int32),
            "level": names[lv], "level_index": np.full(k * per, lv, np.int32),
            "block": np.full(k * per, b, np.int32), "probe_index": probe, "sample": sample,
            "start": np.concatenate((due[b] + late[b], ctl_start)),
            "cycles": np.concatenate((values[b], ctl)),
            "response": np.concatenate((values[b] + late[b], ctl)),
            "rax": np.full(k * per, -1, np.int64), "cpu": np.zeros(k * per, np.int16),
            "migrated": rng.random(k * per) < 1e-4, "warmup": sample < warmup,
        })  # fmt: skip
        row = {"campaign": cid, "round": int(round_seq[b]), "level": str(names[lv]),
               "level_index": lv, "level_value": meta["design"]["levels"][lv]["value"],
               "block": b, "position": b % n_levels}  # fmt: skip
        table, row = _format._block_table(frame, row)
        tables.append(table)
        rows.append(row)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format_version == 3:
        _write_format3(path, tables, rows, {**meta, "format_version": 3})
    else:
        _format._write_campaign(path, tables, rows, meta)
    if verify:
        store.load(path)
    return path


def _write_format3(path: Path, tables: list, rows: list[dict], meta: dict) -> None:
    """A campaign file as hvload wrote format 3: the measured columns, Arrow schema kept."""
    m, r = _format._dumps(meta), _format._dumps(rows)
    schema = store.SAMPLE_SCHEMA.with_metadata({
        b"hvload.metadata": m, b"hvload.blocks": r,
        b"hvload.digest": _format._footer_digest(m, r).encode(),
    })  # fmt: skip
    with pq.ParquetWriter(path, schema, **_format._parquet_options()) as writer:
        for t in tables:
            writer.write_table(t.cast(schema), row_group_size=t.num_rows)


def synthetic_dataset(
    folder: Path, n_campaigns: int, *, seed: int = 0, verify: bool = True, **kwargs: Any
) -> list[Path]:
    """``n_campaigns`` SYNTHETIC campaign files in ``folder``, half of each machine."""
    folder = Path(folder)
    machines = list(MACHINES)
    return [
        synthetic_file(folder / f"synthetic-{i:04d}.parquet", seed + i,
                       machine=machines[i % len(machines)], verify=verify, **kwargs)
        for i in range(n_campaigns)
    ]  # fmt: skip
