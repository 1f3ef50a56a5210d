"""The ``kb`` command group and what its commands share: output, errors, the session, filters.

Read commands go through a running ``kb serve`` when one holds the embedded store
(:mod:`kb.remote`), and open the store themselves otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from kb.errors import KBError
from kb.models import SearchFilters, validate_query
from kb.remote import RemoteKB, ServerUnreachable, address_path, running_server
from kb.settings import get_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

logger = logging.getLogger("kb")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def emit(obj: BaseModel | dict[str, Any] | list[Any]) -> None:
    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def session() -> Iterator[Any]:
    """The knowledge base for one command: closed afterwards; its errors end the command cleanly."""
    kb = open_kb()
    try:
        yield kb
    except KBError as exc:
        fail(str(exc))
    finally:
        kb.close()


def open_kb() -> Any:
    from kb.service import KnowledgeBase

    return KnowledgeBase(get_settings())


def _through_server(call: Callable[[RemoteKB], T]) -> T | None:
    """Run ``call`` against the ``kb serve`` that holds the embedded store, if one does.

    ``None`` means no server (or one that does not answer): the caller opens the store itself.
    """
    settings = get_settings()
    if settings.qdrant_url:  # a Qdrant server is shared: open it directly
        return None
    url = running_server(address_path(settings.store_dir, settings.collection))
    if url is None:
        return None
    key = next(iter(settings.read_api_keys + settings.api_keys), None)
    try:
        return call(RemoteKB(url, key))
    except ServerUnreachable as exc:
        logger.warning("%s; opening the store directly", exc)
        return None
    except KBError as exc:
        fail(str(exc))
        raise  # unreachable: _fail exits


def read(remote: Callable[[RemoteKB], T], local: Callable[[Any], T]) -> T:
    """A read command's result: through the running ``kb serve`` if there is one, else from the store."""
    result = _through_server(remote)
    if result is None:
        with session() as kb:
            result = local(kb)
    return result


def checked(text: str) -> str:
    """The query as kb and the API take it; an empty or over-long one ends the command at once."""
    try:
        return validate_query(text)
    except KBError as exc:
        fail(str(exc))
        raise  # unreachable: _fail exits


def warm(kb: Any) -> Any:
    """Load the embedding model now, saying so on stderr when that takes more than a second."""
    started = time.perf_counter()
    kb.open().embedder.load()
    seconds = time.perf_counter() - started
    if seconds > 1.0:
        click.echo(f"loaded the embedding model in {seconds:.1f} s", err=True)
    return kb


def api_params(filters: SearchFilters) -> dict[str, Any]:
    """Filters as the API's query parameters."""
    return {
        "country": filters.country,
        "about": filters.about,
        "language": filters.language,
        "doc_type": filters.doc_type,
        "audience": filters.audience,
        "topic": filters.topics,
        "doc_id": filters.doc_id,
        "date_from": filters.date_from.isoformat() if filters.date_from else None,
        "date_to": filters.date_to.isoformat() if filters.date_to else None,
    }


def filter_options(func: F) -> F:
    """Add the shared metadata filter options to a command."""
    options = [
        click.option("--country", multiple=True, help="Published in this country: ISO code (repeatable)."),
        click.option("--about", multiple=True, help="Passages about this country: ISO code (repeatable)."),
        click.option("--language", multiple=True, help="ISO 639-1 language code (repeatable)."),
        click.option("--type", "doc_type", multiple=True, help="Document type (repeatable)."),
        click.option("--audience", multiple=True, help="Audience (repeatable)."),
        click.option("--topic", "topics", multiple=True, help="Topic (repeatable)."),
        click.option("--doc", "doc_id", multiple=True, help="Document id (repeatable)."),
        click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="Earliest date."),
        click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Latest date."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def filters_from(kw: dict[str, Any]) -> SearchFilters:
    """The filter options as :class:`SearchFilters`; an unknown country code ends the command at once."""

    def day(value: dt.datetime | None) -> dt.date | None:
        return value.date() if value else None

    fields = ("country", "about", "language", "doc_type", "audience", "topics", "doc_id")
    values: dict[str, Any] = {name: list(kw.pop(name, ())) for name in fields}
    values.update(date_from=day(kw.pop("date_from", None)), date_to=day(kw.pop("date_to", None)))
    return valid_filters(None, **values)


def valid_filters(option: str | None = None, **values: Any) -> SearchFilters:
    """:class:`SearchFilters` from option values; a bad one ends the command with one line naming the option."""
    try:
        return SearchFilters(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = (option or str(error["loc"][0])).replace("_", "-")
        fail(f"invalid --{name}: {str(error['msg']).removeprefix('Value error, ')}")
        raise  # unreachable: _fail exits


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging on stderr.")
def main(verbose: int) -> None:
    """capacities-kb: search and cited answers over CapaCITIES learning materials."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    from pydantic import ValidationError

    try:
        get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"KB_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        fail(f"invalid setting {problems}")


def where(c: dict[str, Any]) -> str:
    bits = []
    page = c.get("page_start") or c.get("page")
    if page:
        end = c.get("page_end")
        bits.append(f"p.{page}" + (f"-{end}" if end and end != page else ""))
    if c.get("section"):
        bits.append(" > ".join(c["section"]))
    if c.get("start_s") is not None:
        bits.append(f"{clock(c['start_s'])}-{clock(c['end_s'])}")
    if c.get("speakers"):
        bits.append(", ".join(c["speakers"]))
    return " | ".join(bits)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:d}:{s % 60:02d}"
