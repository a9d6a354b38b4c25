"""Bytes of one log object to its raw records.

Gzip is detected by its magic bytes, not by the key's extension: local copies are sometimes already
decompressed. Decompression streams with a cap on output size so that a small hostile object cannot inflate to
gigabytes, stops after the first gzip member, and treats anything after it as an error (``gzip.decompress``
silently joins members, which would let a second member smuggle records past a digest check).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import msgspec

from trailduck.errors import BadObjectError

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep one hostile object from exhausting the machine; far above real CloudTrail files."""

    max_decompressed_bytes: int = 2 << 30
    max_records: int = 2_000_000


class _LogFile(msgspec.Struct):
    Records: list[msgspec.Raw]


def decompress(data: bytes, limits: Limits = Limits()) -> bytes:
    """The JSON text of one object: gunzip when it starts with the gzip magic, else the bytes as they are."""
    if not data.startswith(GZIP_MAGIC):
        if len(data) > limits.max_decompressed_bytes:
            raise BadObjectError(f"larger than the cap of {limits.max_decompressed_bytes} bytes")
        return data
    d = zlib.decompressobj(wbits=31)
    out: list[bytes] = []
    total = 0
    view = memoryview(data)
    pos = 0
    try:
        while not d.eof:
            if d.unconsumed_tail:
                chunk = d.decompress(d.unconsumed_tail, _CHUNK)
            elif pos < len(view):
                chunk = d.decompress(view[pos : pos + _CHUNK], _CHUNK)
                pos += _CHUNK
            else:
                break
            total += len(chunk)
            if total > limits.max_decompressed_bytes:
                raise BadObjectError(
                    f"decompresses to more than {limits.max_decompressed_bytes} bytes (possible gzip bomb)"
                )
            out.append(chunk)
    except zlib.error as exc:
        raise BadObjectError(f"corrupt gzip stream ({exc})") from exc
    if not d.eof:
        raise BadObjectError("truncated gzip stream (no end-of-stream marker)")
    if d.unused_data or pos < len(view):
        raise BadObjectError("data after the first gzip member")
    return b"".join(out)


def split_records(text: bytes, limits: Limits = Limits()) -> list[msgspec.Raw]:
    """The raw bytes of each record of ``{"Records": [...]}``, exactly as delivered."""
    try:
        records = msgspec.json.decode(text, type=_LogFile).Records
    except msgspec.ValidationError as exc:
        raise BadObjectError(f"not a CloudTrail log file ({exc})") from exc
    except msgspec.DecodeError as exc:
        raise BadObjectError(f"invalid JSON ({exc})") from exc
    if len(records) > limits.max_records:
        raise BadObjectError(f"holds {len(records)} records, more than the cap of {limits.max_records}")
    return records
