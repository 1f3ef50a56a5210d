"""docker-compose.yml: a pinned Qdrant with a volume and a healthcheck, and the API wired to it."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_wires_api_to_pinned_qdrant() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    qdrant, api = spec["services"]["qdrant"], spec["services"]["api"]
    image, _, tag = qdrant["image"].partition(":")
    assert image == "qdrant/qdrant" and tag and tag != "latest"
    assert "healthcheck" in qdrant and qdrant["volumes"]
    assert api["build"] == "."
    assert api["environment"]["KB_QDRANT_URL"] == "http://qdrant:6333"
    assert api["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert (ROOT / "Dockerfile").is_file()
    # no default secret: compose stops with a message when the key is not set
    for value in (qdrant["environment"]["QDRANT__SERVICE__API_KEY"], api["environment"]["KB_QDRANT_API_KEY"]):
        assert value.startswith("${KB_QDRANT_API_KEY:?"), value
