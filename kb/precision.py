"""Numeric precision of the models this project runs (``KB_EMBED_PRECISION``).

The project runs its models on the CPU. ``auto`` runs them in bfloat16 autocast where the
CPU computes bf16 natively (AMX or AVX512-BF16) and in float32 elsewhere, where bf16 would
be emulated and slower. Autocast keeps layer norms, softmax and the outputs in
float32, so vectors stay float32 and stay comparable across precisions: an index built in
one precision is searched in the other (``eval/bench_precision.py`` measures it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Literal

Precision = Literal["auto", "float32", "bfloat16"]


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True on CPUs with native bf16 arithmetic (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def use_bf16(precision: Precision) -> bool:
    """Whether ``precision`` means bf16 autocast on this machine."""
    if precision == "auto":
        return cpu_has_bf16()
    return precision == "bfloat16"


@contextmanager
def autocast(bf16: bool) -> Iterator[None]:
    """Run the enclosed torch code in bf16 autocast when ``bf16``, else in float32."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
        yield
