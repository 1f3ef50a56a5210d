"""Soak benchmark over loopback: mixed reads while an upload is indexed, two rounds, server memory.

Ingests the corpus into a fresh data dir, starts ``kb serve`` on a free 127.0.0.1 port, then
runs ``--rounds`` rounds of ``--seconds`` each: ``--clients`` threads mixing /search, /ask and
/speakers while one more thread uploads a new document through POST /documents (which
indexes it). After each round it records the server's resident memory (psutil). Exits
non-zero on any failed request or when memory grows by more than ``--max-growth`` between the
first and the last round.

    python -m eval.bench_soak                      # real default model
    python -m eval.bench_soak --model hash --seconds 20 --json-out eval/results/soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from eval.bench_load import QUERIES, _percentile, start_server

MAX_REQUESTS_PER_CLIENT = 1_000_000  # a bound on every loop, besides the deadline
TOPICS = ["green bonds", "citizen engagement", "national platforms", "building renovation", "climate city contract"]
ENDPOINTS = ("search", "ask", "speakers", "upload")


def _reader(url: str, index: int, deadline: float, out: list[tuple[str, float, int]]) -> None:
    with httpx.Client(base_url=url, timeout=120) as http:
        for i in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= deadline:
                break
            query = QUERIES[(index + i) % len(QUERIES)]
            kind = ("search", "search", "ask", "speakers")[(index + i) % 4]
            started = time.perf_counter()
            try:
                if kind == "search":
                    status = http.get("/search", params={"q": query, "k": 10}).status_code
                elif kind == "ask":
                    status = http.post("/ask", json={"question": query}).status_code
                else:
                    topic = TOPICS[(index + i) % len(TOPICS)]
                    status = http.get("/speakers", params={"topic": topic, "limit": 5}).status_code
            except httpx.HTTPError:
                status = 0
            out.append((kind, (time.perf_counter() - started) * 1000, status))


def _document(round_no: int) -> bytes:
    """A new Markdown guide per round (a few thousand words), so each upload is really indexed."""
    paragraphs = [
        f"Round {round_no}, part {p}: national programmes help cities with climate city contracts, "
        "green bonds, one-stop shops for building renovation and citizen assemblies. " * 4
        for p in range(60)
    ]
    return ("# Soak test guide\n\n" + "\n\n".join(paragraphs) + "\n").encode()


def _uploader(url: str, key: str, round_no: int, out: list[tuple[str, float, int]]) -> None:
    started = time.perf_counter()
    try:
        with httpx.Client(base_url=url, timeout=600) as http:
            files = {"file": (f"soak-{round_no}.md", _document(round_no), "text/markdown")}
            status = http.post("/documents", files=files, headers={"Authorization": f"Bearer {key}"}).status_code
    except httpx.HTTPError:
        status = 0
    out.append(("upload", (time.perf_counter() - started) * 1000, status))


def _rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    total = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    return float(round(total / 2**20, 1))


def run_round(url: str, key: str, clients: int, seconds: float, round_no: int) -> dict[str, Any]:
    """One round of mixed reads plus one upload; latency and errors per endpoint."""
    parts: list[list[tuple[str, float, int]]] = [[] for _ in range(clients + 1)]
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    threads = [threading.Thread(target=_reader, args=(url, i, deadline, parts[i]), daemon=True) for i in range(clients)]
    threads.append(threading.Thread(target=_uploader, args=(url, key, round_no, parts[-1]), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 600)
    elapsed = time.perf_counter() - started
    results = [r for part in parts for r in part]
    rows: dict[str, Any] = {}
    for kind in ENDPOINTS:
        picked = [r for r in results if r[0] == kind]
        latencies = [ms for _, ms, _ in picked]
        rows[kind] = {
            "requests": len(picked),
            "p50_ms": _percentile(latencies, 50),
            "p95_ms": _percentile(latencies, 95),
            "errors": sum(1 for _, _, status in picked if status not in (200, 201)),
        }
    return {"round": round_no, "seconds": round(elapsed, 1), "requests": len(results), "endpoints": rows}


def ingest_corpus(corpus: Path, env: dict[str, str]) -> None:
    """Index the corpus into the data dir before the server takes the store."""
    kb = Path(sys.executable).with_name("kb")
    done = subprocess.run([str(kb), "ingest", str(corpus)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"ingest failed: {done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="KB_EMBED_MODEL for the server (default: the real default)")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--data-dir", type=Path, help="Fresh data dir (default: a temporary one)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-growth", type=float, default=0.10, help="Largest RSS growth, first to last round")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.seconds <= 3600 or not 1 <= args.rounds <= 10:
        parser.error("clients must be 1..64, seconds 0..3600 and rounds 1..10")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="kb-soak-"))
    key = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if k not in ("KB_QDRANT_URL", "KB_LLM_URL")}
    env.update(
        {
            "KB_DATA_DIR": str(data_dir),
            "KB_API_KEYS": key,
            "KB_RATE_LIMIT_ASK": "1000000/minute",
            "KB_RATE_LIMIT_UPLOAD": "1000000/minute",
        }
    )
    if args.model:
        env["KB_EMBED_MODEL"] = args.model
    started = time.perf_counter()
    ingest_corpus(args.corpus, env)
    ingest_s = round(time.perf_counter() - started, 1)
    os.environ.update(env)
    proc, url = start_server()
    rounds = []
    try:
        baseline = _rss_mb(proc.pid)
        for n in range(1, args.rounds + 1):
            summary = run_round(url, key, args.clients, args.seconds, n)
            summary["rss_mb_after"] = _rss_mb(proc.pid)
            rounds.append(summary)
            print(json.dumps(summary), flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    first, last = rounds[0]["rss_mb_after"], rounds[-1]["rss_mb_after"]
    growth = (last - first) / first if first else 0.0
    errors = sum(r["endpoints"][k]["errors"] for r in rounds for k in ENDPOINTS)
    report = {
        "model": args.model or "default",
        "clients": args.clients,
        "seconds_per_round": args.seconds,
        "ingest_s": ingest_s,
        "rss_mb_ready": baseline,
        "rounds": rounds,
        "rss_growth": round(growth, 4),
        "errors": errors,
    }
    print(table(report))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if errors or growth > args.max_growth else 0


def table(report: dict[str, Any]) -> str:
    """Per round and endpoint: requests, p50, p95 and errors; then memory."""
    lines = [f"{'round':5s} {'endpoint':9s} {'requests':>8s} {'p50 ms':>9s} {'p95 ms':>9s} {'errors':>6s}"]
    for r in report["rounds"]:
        for kind in ENDPOINTS:
            e = r["endpoints"][kind]
            lines.append(
                f"{r['round']:<5d} {kind:9s} {e['requests']:8d} {e['p50_ms']:9.1f} {e['p95_ms']:9.1f} {e['errors']:6d}"
            )
        lines.append(f"{r['round']:<5d} rss after round: {r['rss_mb_after']} MB")
    lines.append(f"rss at start {report['rss_mb_ready']} MB; growth first to last round {report['rss_growth']:.1%}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
