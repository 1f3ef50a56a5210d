"""Schemathesis over the API's own OpenAPI spec: no 500s, every response matches its schema.

The app runs with the hash embedder over a small indexed corpus and a write key, so uploads,
deletes and reindexing are generated too. Examples per operation are bounded to keep the run
near a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import READ_KEY, WRITE_KEY, build_client

MAX_EXAMPLES = 40
# Any bytes are a schema-valid file; the server rightly refuses images and binaries with 415.
EXCLUDED = {"POST /documents": [positive_data_acceptance]}


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A client over a freshly indexed corpus, with write and read keys configured."""
    with pytest.MonkeyPatch.context() as mp, ExitStack() as stack:
        for name in ("KB_API_KEYS", "KB_READ_API_KEYS", "KB_CORS_ORIGINS", "KB_EMBED_MODEL", "KB_DATA_DIR"):
            mp.delenv(name, raising=False)
        client = build_client(
            tmp_path_factory.mktemp("fuzz"),
            stack,
            raise_server_exceptions=False,
            read_api_keys=[READ_KEY],
            rate_limit_ask="100000/minute",
            rate_limit_upload="100000/minute",
        )
        yield client


def _schema() -> Any:
    """The app's OpenAPI document (building the app opens nothing)."""
    from pathlib import Path

    from api.main import create_app
    from tests.api.conftest import make_settings

    return schemathesis.openapi.from_dict(create_app(make_settings(Path("/nonexistent"))).openapi())


SCHEMA = _schema()
OPERATIONS = {op.label: op for op in (r.ok() for r in SCHEMA.get_all_operations())}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_conforms_to_its_schema(label: str, fuzz_client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {WRITE_KEY}"}

    @given(case=OPERATIONS[label].as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        kwargs.pop("url", None)
        if isinstance(kwargs.get("data"), bytes | str):
            kwargs["content"] = kwargs.pop("data")
        if kwargs.get("files"):  # form values generated as numbers are sent as their text
            kwargs["files"] = [
                (name, (fname, value if isinstance(value, bytes | str) else str(value), *rest))
                for name, (fname, value, *rest) in kwargs["files"]
            ]
        request = fuzz_client.build_request(url=case.formatted_path, **kwargs)
        request.read()  # multipart bodies stream; read them so a failure report can show them
        response = fuzz_client.send(request)
        assert response.status_code != 500, response.text
        case.validate_response(response, excluded_checks=EXCLUDED.get(label, []))

    check()
    assert fuzz_client.get("/health").status_code == 200
