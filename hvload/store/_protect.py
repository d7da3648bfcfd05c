"""The one switch of the store's protections, read at every use.

Switched off only by benchmarks/bench_faults.py, to measure what fsync, page checksums,
digests and verification cost: then nothing is synced, checksummed or verified. It lives
in a module of its own because the atomic writes, the stored format and the merge all read
it; they read ``_protect.PROTECT`` when they run, so setting it here reaches all of them.
"""

from __future__ import annotations

PROTECT = True
