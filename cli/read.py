"""Read commands: search, ask, compare, speakers, docs list|show, stats."""

from __future__ import annotations

import csv
import io
from typing import Any

import click

from cli.app import (
    api_params,
    checked,
    clock,
    emit,
    fail,
    filter_options,
    filters_from,
    main,
    read,
    valid_filters,
    warm,
    where,
)
from ingest.countries import country_label
from kb.models import Answer, Comparison, DocRecord, SearchFilters, SearchResponse, SpeakerResult
from kb.remote import RemoteKB


@main.command()
@click.argument("query")
@click.option("-k", default=None, type=int, help="Hits per page.")
@click.option("--offset", default=0, type=int, help="Hits to skip.")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def search(query: str, k: int | None, offset: int, as_json: bool, **kw: Any) -> None:
    """Hybrid search: dense and sparse lists fused by RRF, in any language."""
    query, filters = checked(query), filters_from(kw)

    def local(kb: Any) -> dict[str, Any]:
        result = warm(kb).retriever.search(query, filters, k=k or kb.settings.search_k, offset=offset)
        return SearchResponse.of(result.hits, result.took_ms).model_dump(mode="json")

    response = read(lambda r: r.get("/search", {"q": query, "k": k, "offset": offset, **api_params(filters)}), local)
    if as_json:
        emit(response)
        return
    for i, hit in enumerate(response["hits"], start=1):
        click.echo(f"{i:2d}. {hit['score']:.4f}  {hit['title']}  [{hit['country']}/{hit['language']}]")
        click.echo(f"    {where(hit)}")
        click.echo(f"    {hit['text'][:160]!r}")


@main.command()
@click.argument("question")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--extractive", is_flag=True, help="Quote sentences only, even when KB_LLM_URL is set.")
def ask(question: str, as_json: bool, extractive: bool, **kw: Any) -> None:
    """Answer with cited sentences (generated and citation-checked when KB_LLM_URL is set)."""
    question, filters = checked(question), filters_from(kw)
    body = {"question": question, "filters": filters.model_dump(mode="json"), "extractive": extractive}
    answer = read(
        lambda r: Answer.model_validate(r.post("/ask", body)),
        lambda kb: warm(kb).ask(question, filters, extractive=extractive),
    )
    if as_json:
        emit(answer)
        return
    for warning in answer.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(answer.answer)
    for c in answer.citations:
        click.echo(f"  [{c.n}] {c.title} ({c.doc_id}) {where(c.model_dump(mode='json'))}")


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
    question, filters = checked(question), filters_from(kw)
    wanted = valid_filters("countries", country=[countries]).country
    body = {"question": question, "countries": wanted or None, "filters": filters.model_dump(mode="json")}
    result = read(
        lambda r: Comparison.model_validate(r.post("/compare", body)),
        lambda kb: warm(kb).compare(question, wanted, filters),
    )
    if as_json:
        emit(result)
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
    topic = checked(topic)
    filters = valid_filters(country=list(country), language=list(language))
    params = {"topic": topic, "country": filters.country, "language": filters.language, "limit": limit}
    result = read(
        lambda r: SpeakerResult.model_validate(r.get("/speakers", params)),
        lambda kb: warm(kb).speakers.find(topic, filters, limit=limit),
    )
    if as_json:
        emit(result)
        return
    for i, s in enumerate(result.speakers, start=1):
        click.echo(f"{i:2d}. {s.name} ({s.organisation or '?'}, {s.country or '?'}) score {s.score:.2f}")
        for e in s.evidence[:2]:
            click.echo(f"     {e.title} @ {clock(e.start_s)}: {e.quote[:120]!r}")


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
    filters = filters_from(kw)
    params = {**api_params(filters), "limit": limit, "offset": offset}
    records = read(
        lambda r: [DocRecord.model_validate(d) for d in r.get("/documents", params)["documents"]],
        lambda kb: kb.store.list_documents(filters, limit=limit, offset=offset),
    )
    if as_json:
        emit([r.model_dump(mode="json") for r in records])
        return
    for r in records:
        m = r.meta
        click.echo(f"{r.doc_id:40s} {m.country or '--':3s} {m.language or '--':3s} {m.doc_type:16s} {r.title}")


@docs.command("show")
@click.argument("doc_id")
def docs_show(doc_id: str) -> None:
    """Show one document's record and chunk count as JSON."""
    from urllib.parse import quote

    record: DocRecord | None = read(
        lambda r: DocRecord.model_validate(r.get(f"/documents/{quote(doc_id, safe='')}")),
        lambda kb: kb.store.get_document(doc_id),
    )
    if record is None:
        fail(f"no document with id {doc_id!r}")
        return
    emit(record)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(as_json: bool) -> None:
    """Counts of documents and chunks, the model and the store."""
    info = read(_remote_stats, _local_stats)
    if as_json:
        emit(info)
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
