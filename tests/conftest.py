"""Test-wide set-up: no network for models, and one converted embedding model for all tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Converting the default model takes a while: every test (and every server a test starts)
# shares one cache, kept between runs on the same machine.
os.environ.setdefault("KB_MODEL_CACHE_DIR", str(Path(tempfile.gettempdir()) / "capacities-kb-test-models"))
