"""Commands that write or run things: parse, ingest, docs delete, snapshot, restore, serve, eval."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.app import emit, fail, main, open_kb, session, where
from cli.read import docs
from kb.settings import Settings, get_settings


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--fast", is_flag=True, help="Estimate tokens instead of loading the model's tokenizer.")
def parse(paths: tuple[Path, ...], as_json: bool, fast: bool) -> None:
    """Parse files into documents and chunks, without indexing (for debugging)."""
    from ingest.chunking import approx_tokens, chunk_document
    from ingest.registry import iter_files, load_path

    settings = get_settings()
    counter = approx_tokens if fast else open_kb().embedder.count_tokens
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
                    click.echo(f"  #{c.ordinal} {where(c.model_dump(mode='json'))}  {c.text[:80]!r}")
    if as_json:
        emit(out)
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sync", is_flag=True, help="Remove documents whose files are gone from the given folders.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def ingest(paths: tuple[Path, ...], sync: bool, as_json: bool) -> None:
    """Ingest files and folders incrementally (unchanged files are skipped)."""
    with session() as kb:
        kb.open(repair_server=True)  # the writer: it may repair a Qdrant server too
        summary = kb.indexer().ingest(list(paths), sync=sync, progress=sys.stderr.isatty() or not as_json)
    for failure in summary.failed:
        click.echo(f"error: {failure.path}: {failure.error}", err=True)
    if as_json:
        emit(summary.model_dump(mode="json", exclude={"doc_ids"}))
    else:
        click.echo(
            f"added {summary.added}, updated {summary.updated}, unchanged {summary.unchanged}, "
            f"removed {summary.removed}, failed {len(summary.failed)}; "
            f"{summary.chunks} chunks in {summary.seconds:.1f} s"
        )
    sys.exit(1 if summary.failed else 0)


@docs.command("delete")
@click.argument("doc_id")
def docs_delete(doc_id: str) -> None:
    """Delete a document and its chunks."""
    with session() as kb:
        deleted = kb.indexer().delete(doc_id)
    if not deleted:
        fail(f"no document with id {doc_id!r}")
    click.echo(f"deleted {doc_id}")


def _snapshot_store(kb: Any) -> Any:
    from kb.store import SnapshotStore

    store = kb.store
    if not isinstance(store, SnapshotStore):
        fail("snapshots are for the embedded store; use the Qdrant server's snapshot API with KB_QDRANT_URL")
    return store


@main.command()
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
def snapshot(dest: Path) -> None:
    """Write a .tar.gz copy of the embedded store to DEST (writes pause meanwhile)."""
    with session() as kb:
        written = _snapshot_store(kb).snapshot(dest)
    click.echo(f"snapshot written to {written} ({written.stat().st_size / 2**20:.1f} MB)")


@main.command()
@click.argument("src", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def restore(src: Path) -> None:
    """Replace the embedded store with the snapshot SRC (stop kb serve first)."""
    with session() as kb:
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
