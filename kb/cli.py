"""The ``kb`` command line: parse, ingest, search, ask, compare, speakers, docs, snapshot, restore, serve."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from kb.countries import country_label
from kb.errors import KBError
from kb.models import Answer, Comparison, DocRecord, SearchFilters, SpeakerResult, validate_query
from kb.remote import RemoteKB, ServerUnreachable, address_path, running_server
from kb.settings import Settings, get_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

logger = logging.getLogger("kb")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _emit(obj: BaseModel | dict[str, Any] | list[Any]) -> None:
    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _session() -> Iterator[Any]:
    """The knowledge base for one command: closed afterwards; its errors end the command cleanly."""
    kb = _kb()
    try:
        yield kb
    except KBError as exc:
        _fail(str(exc))
    finally:
        kb.close()


def _kb() -> Any:
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
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _read(remote: Callable[[RemoteKB], T], local: Callable[[Any], T]) -> T:
    """A read command's result: through the running ``kb serve`` if there is one, else from the store."""
    result = _through_server(remote)
    if result is None:
        with _session() as kb:
            result = local(kb)
    return result


def _checked(text: str) -> str:
    """The query as kb and the API take it; an empty or over-long one ends the command at once."""
    try:
        return validate_query(text)
    except KBError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _warm(kb: Any) -> Any:
    """Load the embedding model now, saying so on stderr when that takes more than a second."""
    started = time.perf_counter()
    kb.open().embedder.load()
    seconds = time.perf_counter() - started
    if seconds > 1.0:
        click.echo(f"loaded the embedding model in {seconds:.1f} s", err=True)
    return kb


def _params(filters: SearchFilters) -> dict[str, Any]:
    """Filters as the API's query parameters."""
    return {
        "country": filters.country,
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
        click.option("--country", multiple=True, help="ISO country code (repeatable)."),
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


def _filters(kw: dict[str, Any]) -> SearchFilters:
    """The filter options as :class:`SearchFilters`; an unknown country code ends the command at once."""

    def day(value: dt.datetime | None) -> dt.date | None:
        return value.date() if value else None

    fields = ("country", "language", "doc_type", "audience", "topics", "doc_id")
    values: dict[str, Any] = {name: list(kw.pop(name, ())) for name in fields}
    values.update(date_from=day(kw.pop("date_from", None)), date_to=day(kw.pop("date_to", None)))
    return _valid_filters(None, **values)


def _valid_filters(option: str | None = None, **values: Any) -> SearchFilters:
    """:class:`SearchFilters` from option values; a bad one ends the command with one line naming the option."""
    try:
        return SearchFilters(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = (option or str(error["loc"][0])).replace("_", "-")
        _fail(f"invalid --{name}: {str(error['msg']).removeprefix('Value error, ')}")
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
        _fail(f"invalid setting {problems}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--fast", is_flag=True, help="Estimate tokens instead of loading the model's tokenizer.")
def parse(paths: tuple[Path, ...], as_json: bool, fast: bool) -> None:
    """Parse files into documents and chunks, without indexing (for debugging)."""
    from ingest.chunking import approx_tokens, chunk_document
    from ingest.registry import iter_files, load_path

    settings = get_settings()
    counter = approx_tokens if fast else _kb().embedder.count_tokens
    out: list[dict[str, Any]] = []
    failed = 0
    for item in iter_files(paths):
        if not isinstance(item, Path):
            click.echo(f"error: {item}", err=True)
            failed += 1
            continue
        result = load_path(
            item,
            max_bytes=int(settings.max_file_mb * 2**20),
            max_unzipped_bytes=int(settings.max_unzipped_mb * 2**20),
        )
        for error in result.errors:
            click.echo(f"error: {error}", err=True)
            failed += 1
        for doc in result.docs:
            chunks = chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap, counter)
            entry = {
                "doc_id": doc.doc_id,
                "path": doc.path,
                "format": doc.format,
                "title": doc.title,
                "pages": doc.pages,
                "meta": doc.meta.model_dump(mode="json"),
                "chars": len(doc.text),
                "chunks": [c.model_dump(mode="json") for c in chunks],
            }
            out.append(entry)
            if not as_json:
                click.echo(f"{doc.path}  [{doc.format}] {doc.title!r}  {len(chunks)} chunks")
                for c in chunks:
                    where = _where(c.model_dump(mode="json"))
                    click.echo(f"  #{c.ordinal} {where}  {c.text[:80]!r}")
    if as_json:
        _emit(out)
    sys.exit(1 if failed else 0)


def _where(c: dict[str, Any]) -> str:
    bits = []
    page = c.get("page_start") or c.get("page")
    if page:
        end = c.get("page_end")
        bits.append(f"p.{page}" + (f"-{end}" if end and end != page else ""))
    if c.get("section"):
        bits.append(" > ".join(c["section"]))
    if c.get("start_s") is not None:
        bits.append(f"{_clock(c['start_s'])}-{_clock(c['end_s'])}")
    if c.get("speakers"):
        bits.append(", ".join(c["speakers"]))
    return " | ".join(bits)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:d}:{s % 60:02d}"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sync", is_flag=True, help="Remove documents whose files are gone from the given folders.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def ingest(paths: tuple[Path, ...], sync: bool, as_json: bool) -> None:
    """Ingest files and folders incrementally (unchanged files are skipped)."""
    with _session() as kb:
        summary = kb.indexer().ingest(list(paths), sync=sync, progress=sys.stderr.isatty() or not as_json)
    for failure in summary.failed:
        click.echo(f"error: {failure.path}: {failure.error}", err=True)
    if as_json:
        _emit(summary.model_dump(mode="json", exclude={"doc_ids"}))
    else:
        click.echo(
            f"added {summary.added}, updated {summary.updated}, unchanged {summary.unchanged}, "
            f"removed {summary.removed}, failed {len(summary.failed)}; "
            f"{summary.chunks} chunks in {summary.seconds:.1f} s"
        )
    sys.exit(1 if summary.failed else 0)


@main.command()
@click.argument("query")
@click.option("-k", default=None, type=int, help="Hits per page.")
@click.option("--offset", default=0, type=int, help="Hits to skip.")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def search(query: str, k: int | None, offset: int, as_json: bool, **kw: Any) -> None:
    """Hybrid search (dense + sparse, fused in Qdrant)."""
    query, filters = _checked(query), _filters(kw)

    def local(kb: Any) -> dict[str, Any]:
        from kb.presenters import search_response

        return search_response(_warm(kb).retriever.search(query, filters, k=k or kb.settings.search_k, offset=offset))

    response = _read(lambda r: r.get("/search", {"q": query, "k": k, "offset": offset, **_params(filters)}), local)
    if as_json:
        _emit(response)
        return
    for i, hit in enumerate(response["hits"], start=1):
        click.echo(f"{i:2d}. {hit['score']:.4f}  {hit['title']}  [{hit['country']}/{hit['language']}]")
        click.echo(f"    {_where(hit)}")
        click.echo(f"    {hit['text'][:160]!r}")


@main.command()
@click.argument("question")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--extractive", is_flag=True, help="Quote sentences only, even when KB_LLM_URL is set.")
def ask(question: str, as_json: bool, extractive: bool, **kw: Any) -> None:
    """Answer with cited sentences (generated and citation-checked when KB_LLM_URL is set)."""
    question, filters = _checked(question), _filters(kw)
    body = {"question": question, "filters": filters.model_dump(mode="json"), "extractive": extractive}
    answer = _read(
        lambda r: Answer.model_validate(r.post("/ask", body)),
        lambda kb: _warm(kb).ask(question, filters, extractive=extractive),
    )
    if as_json:
        _emit(answer)
        return
    for warning in answer.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(answer.answer)
    for c in answer.citations:
        click.echo(f"  [{c.n}] {c.title} ({c.doc_id}) {_where(c.model_dump(mode='json'))}")


@main.command()
@click.argument("question")
@click.option(
    "--countries", default="", help="Comma-separated ISO codes (default: those the question names, else all)."
)
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "csv"]), default="text")
def compare(question: str, countries: str, as_json: bool, fmt: str, **kw: Any) -> None:
    """Answer the same question side by side, one row per country."""
    question, filters = _checked(question), _filters(kw)
    wanted = _valid_filters("countries", country=[countries]).country
    body = {"question": question, "countries": wanted or None, "filters": filters.model_dump(mode="json")}
    result = _read(
        lambda r: Comparison.model_validate(r.post("/compare", body)),
        lambda kb: _warm(kb).compare(question, wanted, filters),
    )
    if as_json:
        _emit(result)
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["country", "evidence", "answer", "sources"])
        for row in result.rows:
            sources = "; ".join(f"[{c.n}] {c.doc_id}" for c in row.citations)
            writer.writerow([country_label(row.country), row.evidence, row.answer, sources])
        click.echo(buf.getvalue().rstrip("\n"))
    elif fmt == "md":
        click.echo("| country | answer | sources |\n|---|---|---|")
        for row in result.rows:
            sources = "<br>".join(f"[{c.n}] {c.title}" for c in row.citations)
            click.echo(f"| {country_label(row.country)} | {row.answer.replace('|', '/')} | {sources} |")
    else:
        for row in result.rows:
            click.echo(f"{country_label(row.country)}: {row.answer}")


@main.command()
@click.argument("topic")
@click.option("--country", multiple=True, help="Speaker's country (repeatable).")
@click.option("--language", multiple=True, help="Language of what they said (repeatable).")
@click.option("-n", "limit", default=10, type=int, help="Most people listed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def speakers(topic: str, country: tuple[str, ...], language: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Find people who spoke or wrote about a topic, with evidence."""
    topic = _checked(topic)
    filters = _valid_filters(country=list(country), language=list(language))
    params = {"topic": topic, "country": filters.country, "language": filters.language, "limit": limit}
    result = _read(
        lambda r: SpeakerResult.model_validate(r.get("/speakers", params)),
        lambda kb: _warm(kb).speakers.find(topic, filters, limit=limit),
    )
    if as_json:
        _emit(result)
        return
    for i, s in enumerate(result.speakers, start=1):
        click.echo(f"{i:2d}. {s.name} ({s.organisation or '?'}, {s.country or '?'}) score {s.score:.2f}")
        for e in s.evidence[:2]:
            click.echo(f"     {e.title} @ {_clock(e.start_s)}: {e.quote[:120]!r}")


@main.group()
def docs() -> None:
    """List, show and delete indexed documents."""


@docs.command("list")
@filter_options
@click.option("--limit", default=100, type=int)
@click.option("--offset", default=0, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def docs_list(limit: int, offset: int, as_json: bool, **kw: Any) -> None:
    """List indexed documents."""
    filters = _filters(kw)
    params = {**_params(filters), "limit": limit, "offset": offset}
    records = _read(
        lambda r: [DocRecord.model_validate(d) for d in r.get("/documents", params)["documents"]],
        lambda kb: kb.store.list_documents(filters, limit=limit, offset=offset),
    )
    if as_json:
        _emit([r.model_dump(mode="json") for r in records])
        return
    for r in records:
        click.echo(f"{r.doc_id:40s} {r.country or '--':3s} {r.language or '--':3s} {r.doc_type:16s} {r.title}")


@docs.command("show")
@click.argument("doc_id")
def docs_show(doc_id: str) -> None:
    """Show one document's record and chunk count as JSON."""
    from urllib.parse import quote

    record: DocRecord | None = _read(
        lambda r: DocRecord.model_validate(r.get(f"/documents/{quote(doc_id, safe='')}")),
        lambda kb: kb.store.get_document(doc_id),
    )
    if record is None:
        _fail(f"no document with id {doc_id!r}")
        return
    _emit(record)


@docs.command("delete")
@click.argument("doc_id")
def docs_delete(doc_id: str) -> None:
    """Delete a document and its chunks."""
    with _session() as kb:
        deleted = kb.indexer().delete(doc_id)
    if not deleted:
        _fail(f"no document with id {doc_id!r}")
    click.echo(f"deleted {doc_id}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(as_json: bool) -> None:
    """Counts of documents and chunks, the model and the store."""
    info = _read(_remote_stats, _local_stats)
    if as_json:
        _emit(info)
    else:
        for key, value in info.items():
            click.echo(f"{key}: {value}")


def _local_stats(kb: Any) -> dict[str, Any]:
    info: dict[str, Any] = kb.health()
    info["countries"] = kb.store.facets("country", SearchFilters())
    info["languages"] = kb.store.facets("language", SearchFilters())
    info["doc_types"] = kb.store.facets("doc_type", SearchFilters())
    return info


def _remote_stats(remote: RemoteKB) -> dict[str, Any]:
    info: dict[str, Any] = {k: v for k, v in remote.get("/health").items() if k != "status"}
    facets = remote.get("/documents", {"limit": 1})["facets"]
    info.update(countries=facets["country"], languages=facets["language"], doc_types=facets["doc_type"])
    return info


def _snapshot_store(kb: Any) -> Any:
    from kb.store import SnapshotStore

    store = kb.store
    if not isinstance(store, SnapshotStore):
        _fail("snapshots are for the embedded store; use the Qdrant server's snapshot API with KB_QDRANT_URL")
    return store


@main.command()
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
def snapshot(dest: Path) -> None:
    """Write a .tar.gz copy of the embedded store to DEST (writes pause meanwhile)."""
    with _session() as kb:
        written = _snapshot_store(kb).snapshot(dest)
    click.echo(f"snapshot written to {written} ({written.stat().st_size / 2**20:.1f} MB)")


@main.command()
@click.argument("src", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def restore(src: Path) -> None:
    """Replace the embedded store with the snapshot SRC (stop kb serve first)."""
    with _session() as kb:
        _snapshot_store(kb).restore(src)
        info = kb.open().health()
    click.echo(f"restored {src}: {info['documents']} documents, {info['chunks']} chunks")


@main.command()
@click.option("--host", default=None, help="Interface to bind (default from KB_HOST).")
@click.option("--port", default=None, type=int, help="Port (default from KB_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the web page and the HTTP API."""
    import uvicorn

    from api.main import create_app

    settings: Settings = get_settings()
    host, port = host or settings.host, port or settings.port
    local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # bind-all: reach it locally
    address = f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"
    uvicorn.run(create_app(settings, address=address), host=host, port=port, log_level="info")


@main.command(
    "eval",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def eval_(args: tuple[str, ...]) -> None:
    """Evaluate on the gold set, a BEIR dataset or XQuAD-R (options: kb eval --help)."""
    from eval.run import main as run_eval

    sys.exit(run_eval(list(args)))


if __name__ == "__main__":
    main()
