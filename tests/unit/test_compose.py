"""docker-compose.yml: a pinned Qdrant with a volume and a healthcheck, and the API wired to it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
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


def _compose() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_config_validates() -> None:
    compose = _compose()
    if compose is None:
        pytest.skip("no docker compose client on this machine")
    env = {**os.environ, "KB_QDRANT_API_KEY": "a-secret-of-our-own"}
    result = subprocess.run([*compose, "config"], cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr
    env.pop("KB_QDRANT_API_KEY")
    refused = subprocess.run([*compose, "config"], cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    assert refused.returncode != 0 and "KB_QDRANT_API_KEY" in refused.stderr
