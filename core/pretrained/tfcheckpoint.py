"""A reader for TensorFlow "V2" checkpoints (tensor bundles) that needs no TensorFlow.

A checkpoint with prefix ``P`` is two kinds of file:

- ``P.index``: an SSTable (LevelDB table format). Its footer (last 48 bytes) points to an index block, whose
  entries point to data blocks; every block is followed by a 5-byte trailer (compression type, masked CRC32C).
  Block entries are prefix-compressed ``key -> value`` records. The key ``""`` holds a ``BundleHeaderProto``
  (number of shards, endianness); every other key is a tensor name whose value is a ``BundleEntryProto``
  (dtype, shape, shard id, byte offset, byte size, masked CRC32C of the bytes).
- ``P.data-SSSSS-of-NNNNN``: the raw little-endian tensor bytes, concatenated.

Only the protobuf wire format (varints, length-delimited fields, fixed32/64) is decoded here, by hand. Every
block and every tensor is checked against its CRC32C, computed with numpy (lanes of chunks, then combined).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import GenreLabError

#: ``tensorflow.DataType`` enum values → numpy dtypes (little-endian). Strings and bfloat16 are not supported.
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("u1"), 5: np.dtype("<i2"),
    6: np.dtype("i1"), 9: np.dtype("<i8"), 10: np.dtype("?"), 17: np.dtype("<u2"), 19: np.dtype("<f2"),
    22: np.dtype("<u4"), 23: np.dtype("<u8"),
}
TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
_CRC_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8


class CheckpointError(GenreLabError, ValueError):
    """A file that is not a readable TensorFlow V2 checkpoint; the message says what is wrong."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives (a decoded ``BundleEntryProto``).

    Attributes:
        name: Variable name, e.g. ``"conv2d/kernel"``.
        dtype: numpy dtype of the stored values.
        shape: Tensor shape (TensorFlow order, e.g. HWIO for conv kernels).
        shard_id: Index of the data shard holding the bytes.
        offset: Byte offset in that shard.
        size: Byte count.
        crc32c: Masked CRC32C of the bytes.
    """

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int


# --- CRC32C ------------------------------------------------------------------------------------------------------

def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_CRC_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _byte_table()


def _feed(crc: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Advance CRC registers ``crc (lanes,)`` over bytes ``data (lanes, length)`` (raw: no init/final xor)."""
    for j in range(data.shape[1]):
        crc = _TABLE[(crc ^ data[:, j]) & 0xFF] ^ (crc >> 8)
    return crc


@lru_cache(maxsize=64)
def _zeros_operator(length: int) -> tuple[np.ndarray, ...]:
    """Four 256-entry tables applying "feed ``length`` zero bytes" (a linear map on the register) byte-wise."""
    basis = _feed(np.uint32(1) << np.arange(32, dtype=np.uint32), np.zeros((32, length), dtype=np.uint8))
    bits = (np.arange(256, dtype=np.uint32)[:, None] >> np.arange(8, dtype=np.uint32)) & 1
    return tuple(np.bitwise_xor.reduce(np.where(bits == 1, basis[8 * k: 8 * k + 8], 0), axis=1).astype(np.uint32)
                 for k in range(4))


def crc32c(data: bytes | memoryview) -> int:
    """Standard CRC-32C of ``data`` (initial value and final xor 0xFFFFFFFF): ``crc32c(b"123456789") == 0xE3069283``.

    The bytes are cut into ``m`` chunks of ``L ≈ sqrt(n)`` bytes, whose raw CRCs are computed side by side in numpy;
    they are then chained with the precomputed "shift by L zero bytes" operator, and the tail is fed last.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    length = max(16, math.isqrt(len(buf)))
    m = len(buf) // length
    reg = np.uint32(0xFFFFFFFF)
    if m:
        lanes = _feed(np.zeros(m, dtype=np.uint32), buf[: m * length].reshape(m, length))
        t0, t1, t2, t3 = _zeros_operator(length)
        for chunk_crc in lanes:
            reg = t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24] ^ chunk_crc
    reg = _feed(np.array([reg], dtype=np.uint32), buf[m * length:][None, :])[0]
    return int(reg) ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """TensorFlow/LevelDB's masked form of a CRC (rotate right by 15, add a constant), as stored on disk."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


# --- protobuf wire format ----------------------------------------------------------------------------------------

def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; returns ``(value, next position)``."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("Truncated varint in checkpoint index.")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("Varint longer than 10 bytes in checkpoint index.")


def iter_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield ``(field number, value)`` of a protobuf message: ints for varint/fixed fields, bytes for
    length-delimited ones (sub-messages, strings, packed arrays)."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            (value,), pos = struct.unpack_from("<Q", buf, pos), pos + 8
        elif wire == 2:
            size, pos = read_varint(buf, pos)
            value, pos = bytes(buf[pos: pos + size]), pos + size
        elif wire == 5:
            (value,), pos = struct.unpack_from("<I", buf, pos), pos + 4
        else:
            raise CheckpointError(f"Unsupported protobuf wire type {wire} in checkpoint index.")
        yield number, value


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    """``TensorShapeProto``: repeated ``dim`` (field 2), each a ``Dim`` with ``size`` (field 1)."""
    dims = []
    for number, value in iter_fields(buf):
        if number == 2:
            dims.append(next((int(v) for n, v in iter_fields(value) if n == 1), 0))
        elif number == 3 and value:
            raise CheckpointError("Tensor of unknown rank in checkpoint.")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorEntry:
    """Decode a ``BundleEntryProto`` (dtype=1, shape=2, shard_id=3, offset=4, size=5, crc32c=6, slices=7)."""
    fields: dict[int, int | bytes] = {}
    for number, value in iter_fields(buf):
        if number == 7:
            raise CheckpointError(f"Tensor '{name}' is stored in slices (partitioned variable): not supported.")
        fields[number] = value
    dtype_code = int(fields.get(1, 0))
    if dtype_code not in DTYPES:
        raise CheckpointError(f"Tensor '{name}' has TensorFlow dtype {dtype_code}, which this reader does not support.")
    return TensorEntry(name=name, dtype=DTYPES[dtype_code], shape=_parse_shape(fields.get(2, b"")),
                       shard_id=int(fields.get(3, 0)), offset=int(fields.get(4, 0)), size=int(fields.get(5, 0)),
                       crc32c=int(fields.get(6, 0)))


# --- SSTable -----------------------------------------------------------------------------------------------------

def _read_block(table: bytes, handle: bytes) -> bytes:
    """Contents of the block a ``BlockHandle`` (varint offset, varint size) points to, CRC-checked."""
    offset, pos = read_varint(handle, 0)
    size, _ = read_varint(handle, pos)
    if offset + size + 5 > len(table):
        raise CheckpointError("Checkpoint index is truncated (a block runs past the end of the file).")
    contents = table[offset: offset + size]
    kind = table[offset + size]
    (stored,) = struct.unpack_from("<I", table, offset + size + 1)
    if kind != 0:
        raise CheckpointError(f"Checkpoint index block uses compression type {kind}; only uncompressed is supported.")
    if mask_crc(crc32c(table[offset: offset + size + 1])) != stored:
        raise CheckpointError("Checkpoint index is corrupt (block checksum mismatch).")
    return contents


def _block_records(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, value)`` of a table block (prefix-compressed keys, restart array at the end)."""
    if len(block) < 4:
        raise CheckpointError("Checkpoint index block is too short.")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * n_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = read_varint(block, pos)
        unshared, pos = read_varint(block, pos)
        value_len, pos = read_varint(block, pos)
        key = key[:shared] + block[pos: pos + unshared]
        pos += unshared
        yield key, block[pos: pos + value_len]
        pos += value_len


def parse_index(index: bytes) -> tuple[int, dict[str, TensorEntry]]:
    """Decode a ``.index`` file.

    Returns:
        ``(number of data shards, {tensor name: TensorEntry})`` in the table's (sorted) key order.
    """
    if len(index) < FOOTER_BYTES:
        raise CheckpointError("Checkpoint index is too short to hold a table footer.")
    footer = index[-FOOTER_BYTES:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise CheckpointError("Not a TensorFlow checkpoint index (bad table magic number).")
    _, pos = read_varint(footer, 0)  # metaindex offset
    _, pos = read_varint(footer, pos)  # metaindex size
    index_block = _read_block(index, footer[pos:])
    n_shards, entries = 1, {}
    for _, handle in _block_records(index_block):
        for key, value in _block_records(_read_block(index, handle)):
            if key == b"":
                header = dict(iter_fields(value))
                n_shards = int(header.get(1, 1))
                if int(header.get(2, 0)) != 0:
                    raise CheckpointError("Big-endian checkpoints are not supported.")
            else:
                name = key.decode("utf-8")
                entries[name] = _parse_entry(name, value)
    return n_shards, entries


def shard_name(prefix: str, shard: int, n_shards: int) -> str:
    """File name of data shard ``shard`` of ``n_shards`` for a checkpoint ``prefix``."""
    return f"{prefix}.data-{shard:05d}-of-{n_shards:05d}"


def read_tensors(entries: dict[str, TensorEntry], shards: Sequence[bytes]) -> dict[str, np.ndarray]:
    """Copy every tensor out of the shard bytes, checking each one's CRC32C.

    Returns:
        ``{name: array}`` with the stored dtype and shape (TensorFlow layout).
    """
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        if e.shard_id >= len(shards):
            raise CheckpointError(f"Tensor '{name}' is in shard {e.shard_id}, but only {len(shards)} were given.")
        raw = memoryview(shards[e.shard_id])[e.offset: e.offset + e.size]
        expected = int(np.prod(e.shape, dtype=np.int64)) * e.dtype.itemsize
        if len(raw) != e.size or e.size != expected:
            raise CheckpointError(f"Tensor '{name}' needs {expected} bytes but the data shard holds {len(raw)}.")
        if mask_crc(crc32c(raw)) != e.crc32c:
            raise CheckpointError(f"Tensor '{name}' is corrupt (checksum mismatch).")
        out[name] = np.frombuffer(raw, dtype=e.dtype).reshape(e.shape).copy()
    return out


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Read every tensor of the checkpoint whose files are ``<prefix>.index`` and ``<prefix>.data-*``.

    A directory given as ``prefix`` means an empty base name inside it (files ``dir/.index``, ``dir/.data-…``,
    the layout of the musicnn wheel).
    """
    base = str(prefix) + "/" if Path(prefix).is_dir() else str(prefix)
    index_path = Path(base + ".index")
    if not index_path.is_file():
        raise CheckpointError(f"No checkpoint index at {index_path}.")
    n_shards, entries = parse_index(index_path.read_bytes())
    shards = [Path(shard_name(base, i, n_shards)).read_bytes() for i in range(n_shards)]
    return read_tensors(entries, shards)
