"""Campaign files: Parquet with the metadata inside, written block by block by one owner.

**One owner.** A run owns its output path from before anything is measured to the end:
it holds an advisory lock (``fcntl.flock``) on ``<file>.lock`` beside the file, which
records the holder's PID, host and start time. A second run, :func:`recover` and
:func:`load` of a campaign still being written refuse with a message naming the holder.
The kernel drops the lock when its holder dies, so a killed run never blocks the next.

**Nothing finished is lost.** While a campaign runs, every finished block is written at
once as its own small Parquet file in ``<file>.parts/`` (beside a ``metadata.json``).
Closing the writer merges the parts into the campaign file, reads it back, verifies it,
and only then removes the parts it merged; SIGINT and SIGTERM are held back during the
merge and take effect after it. If the merge fails (a full disk) or the process is
killed, the folder stays behind and :func:`recover` (``hvload recover FILE``) writes the
campaign file from its finished blocks: at most the block in flight is lost.

**Nothing outside the run's folder.** The writer opens the ``.parts`` folder it made
once and writes, merges and removes its parts through that descriptor; it merges
exactly the blocks it recorded writing. A folder swapped for a link, or a part deleted
or changed mid-run, raises :class:`PartsFolderError` (one line: the block(s) and where
the others are); no file lacking a block is written and nothing is removed.
:func:`recover` refuses a ``.parts`` that is a link or another user's folder, and
removes only files it can prove it wrote.

**Every write is atomic and durable.** Each part, ``metadata.json`` and the campaign file
are written to a uniquely named temporary in the same folder (``tempfile.mkstemp``:
``O_EXCL``, never following a planted link), flushed with ``fsync``, renamed into place
with ``os.replace``, and the folder is ``fsync``-ed. No temporary has a fixed name.

**Damage is detected.** The campaign file is one Parquet table of samples with one row
group per block (format 4 stores ``start`` and ``response`` as ``due`` and ``late``, see
:data:`STORED_COLUMNS`; formats 1 to 3 are read as they are) and a CRC32 checksum on
every data page; the Arrow schema metadata holds
the campaign's metadata (``hvload.metadata``), its block table (``hvload.blocks``, with a
SHA-256 digest of each block's samples) and a SHA-256 of both (``hvload.digest``).
:func:`load` checks the metadata and block table before it allocates anything, refuses
sizes that cannot fit in memory, then verifies the page checksums, the digests and the
values (cycles >= 0; rounds, levels and sample counts as the design says); a file that
fails raises :class:`~hvload.errors.CorruptCampaignError` naming the file, the block and
the problem. ``load(path, verify=False)`` reads a damaged file for forensics.

The modules, each importing only those before it (tests and benchmarks also reach in):
``_protect`` (the switch of these protections, for benchmarks), ``_atomic`` (the
writes), ``_owned`` (the run's own parts folder), ``_format`` (the stored layout and the
writing of a campaign file), ``_lock`` (the owner), ``_verify`` (the checks),
``_reader`` (:func:`load`, :func:`read_footer`), ``_merge`` (the parts into the file,
:func:`recover`), ``_writer`` (:class:`CampaignWriter`, :func:`save`).
"""

from __future__ import annotations

# ZSTD_LEVEL here is for reading: the campaign file is written with _format.ZSTD_LEVEL.
from ._format import SAMPLE_SCHEMA, STORED_COLUMNS, STORED_SCHEMA, ZSTD_LEVEL
from ._lock import OutputLock, claim, holder_text, live_holder
from ._merge import recover
from ._owned import PartsFolderError
from ._reader import StoredCampaign, load, read_blocks, read_footer
from ._verify import MAX_TEXT_BYTES
from ._writer import CampaignWriter, save

__all__ = [
    "MAX_TEXT_BYTES",
    "SAMPLE_SCHEMA",
    "STORED_COLUMNS",
    "STORED_SCHEMA",
    "ZSTD_LEVEL",
    "CampaignWriter",
    "OutputLock",
    "PartsFolderError",
    "StoredCampaign",
    "claim",
    "holder_text",
    "live_holder",
    "load",
    "read_blocks",
    "read_footer",
    "recover",
    "save",
]
