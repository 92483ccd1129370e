"""The cache's record of verified weight files: trust on first use, checked on every use.

``checksums.json`` in the model cache maps each file name to the SHA-256 and size it had when
its download verified (see :mod:`.download`). A catalogue record's own ``sha256`` and ``size``,
where filled, take precedence. A file put in the cache by hand is checked from its structure
(:mod:`.verify`) before its checksum is recorded.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import filelock

from ..errors import DownloadError, ModelFormatError, UnsafeModelError
from ..fingerprint import file_digest
from .catalog import StyleRecord
from .verify import TruncatedFileError, verify_model_file

__all__ = ["CHECKSUMS", "record_checksum", "check_download", "verify_cached"]

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"



def _read_checksums(folder: Path) -> dict[str, dict]:
    try:
        data = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_checksum(folder: Path, filename: str, **entry) -> None:
    tmp = None
    try:  # processes recording different files at once must not lose each other's entries
        with filelock.FileLock(f"{folder / CHECKSUMS}.lock", timeout=60):
            data = _read_checksums(folder)
            data[filename] = entry
            fd, tmp = tempfile.mkstemp(prefix=f".{CHECKSUMS}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, folder / CHECKSUMS)
    except (OSError, filelock.Timeout) as err:  # the file is fine; only its record is missing
        log.warning("could not record the checksum of %s: %s", filename, err)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def check_download(part: Path, record: StyleRecord | None, label: str) -> str:
    """The SHA-256 of a verified download, once it matches the catalogue's size and hash."""
    size, digest = part.stat().st_size, file_digest(part)
    expected = record.sha256.lower() if record is not None and record.sha256 else None
    wrong = None
    if record is not None and record.size is not None and size != record.size:
        wrong = f"has {size:,} bytes, but the catalogue expects {record.size:,}"
    elif expected and digest != expected:
        wrong = f"has SHA-256 {digest}, but the catalogue expects {expected}"
    if wrong:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{label}: the downloaded file {wrong}; the file on the server "
                            "changed or was damaged in transit; the download was discarded")
    return digest


def verify_cached(path: Path, record: StyleRecord | None, label: str) -> None:
    """A cached file must still have the checksum it had when it was downloaded (or the
    catalogue's); one put there by hand must verify before its checksum is trusted."""
    entry = _read_checksums(path.parent).get(path.name) or {}
    expected = (record.sha256 if record else None) or entry.get("sha256")
    again = "delete it and run again to download it afresh"
    size = path.stat().st_size
    if record is not None and record.size is not None and size != record.size:
        raise DownloadError(f"{label}: the cached file {path} has {size:,} bytes, not "
                            f"{record.size:,} as the catalogue says; {again}")
    if expected is None:  # put there by hand or by an older version: check it, then record it
        try:
            verify_model_file(path)
        except UnsafeModelError as err:
            raise UnsafeModelError(f"{label}: the cached file {path}: {err.detail}") from None
        except ModelFormatError as err:
            kind = "truncated" if isinstance(err, TruncatedFileError) else "damaged"
            raise DownloadError(f"{label}: the cached file {path} is {kind}: {err.detail}; "
                                f"{again}") from None
        record_checksum(path.parent, path.name, sha256=file_digest(path), size=size,
                         url=record.url if record else "")
        return
    digest = file_digest(path)
    if digest != expected.lower():
        raise DownloadError(f"{label}: the cached file {path} has SHA-256 {digest}, not "
                            f"{expected} as when it was downloaded, so it was changed or "
                            f"damaged; {again}")
