"""Load benchmark of the HTTP API over loopback: concurrent clients on /search and /ask.

Starts ``kb serve`` on a free 127.0.0.1 port (over the configured data dir) unless ``--url``
points at a running server, runs N clients for a fixed time, and reports requests/s,
latency percentiles and errors as JSON and a table. Exits non-zero on any error.

    python -m eval.bench_load --clients 8 --seconds 30
    python -m eval.bench_load --url http://127.0.0.1:8000 --json-out eval/results/load.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

QUERIES = [
    "How can national programmes support smaller cities?",
    "financing the climate city contract",
    "Wie finanzieren Städte ihre Klimaneutralität?",
    "¿Cómo apoya el gobierno a las ciudades de la misión?",
    "multi-level governance and national platforms",
    "greenhouse gas inventory reporting",
    "Comment les villes impliquent-elles les citoyens ?",
    "one-stop shops for building renovation",
]
MAX_REQUESTS_PER_CLIENT = 1_000_000  # a bound on every loop, besides the deadline


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _loopback(url: str) -> str:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"refusing {url}: the benchmark only targets 127.0.0.1")
    return url.rstrip("/")


def start_server(timeout_s: float = 600) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``kb serve`` on a free loopback port and wait until /health answers."""
    port = _free_port()
    kb = Path(sys.executable).with_name("kb")
    cmd = [str(kb), "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise SystemExit(f"server exited with {proc.returncode}: {err}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("server did not become healthy in time")


def _client(url: str, index: int, deadline: float, ask_every: int, results: list[tuple[str, float, int]]) -> None:
    local: list[tuple[str, float, int]] = []
    with httpx.Client(base_url=url, timeout=120) as http:
        for i in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= deadline:
                break
            query = QUERIES[(index + i) % len(QUERIES)]
            started = time.perf_counter()
            try:
                if ask_every and i % ask_every == ask_every - 1:
                    kind = "ask"
                    status = http.post("/ask", json={"question": query}).status_code
                else:
                    kind = "search"
                    status = http.get("/search", params={"q": query, "k": 10}).status_code
            except httpx.HTTPError:
                kind, status = "error", 0
            local.append((kind, (time.perf_counter() - started) * 1000, status))
    results.extend(local)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[rank], 2)


def run(url: str, clients: int, seconds: float, ask_every: int) -> dict[str, object]:
    """Run the load and summarise it per endpoint and overall."""
    results: list[tuple[str, float, int]] = []
    lock_free: list[list[tuple[str, float, int]]] = [[] for _ in range(clients)]
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    threads = [
        threading.Thread(target=_client, args=(url, i, deadline, ask_every, lock_free[i]), daemon=True)
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    elapsed = time.perf_counter() - started
    for part in lock_free:
        results.extend(part)
    summary: dict[str, object] = {"url": url, "clients": clients, "seconds": round(elapsed, 2)}
    rows = {}
    for kind in ("search", "ask", "all"):
        picked = [r for r in results if kind == "all" or r[0] == kind]
        latencies = [ms for _, ms, _ in picked]
        errors = sum(1 for _, _, status in picked if status != 200)
        rows[kind] = {
            "requests": len(picked),
            "rps": round(len(picked) / elapsed, 2) if elapsed else 0.0,
            "p50_ms": _percentile(latencies, 50),
            "p95_ms": _percentile(latencies, 95),
            "p99_ms": _percentile(latencies, 99),
            "mean_ms": round(statistics.fmean(latencies), 2) if latencies else 0.0,
            "errors": errors,
        }
    summary["endpoints"] = rows
    return summary


def table(summary: dict[str, object]) -> str:
    """A plain-text table of the summary."""
    rows = summary["endpoints"]
    assert isinstance(rows, dict)
    lines = [
        f"{'endpoint':8s} {'requests':>9s} {'req/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'errors':>7s}"
    ]
    for kind, r in rows.items():
        latency = f"{r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p99_ms']:8.1f}"
        lines.append(f"{kind:8s} {r['requests']:9d} {r['rps']:8.2f} {latency} {r['errors']:7d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="A running server on 127.0.0.1 (default: start kb serve)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ask-every", type=int, default=4, help="Every Nth request is /ask (0: search only)")
    parser.add_argument("--json-out", type=Path, help="Also write the JSON summary to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 3600:
        parser.error("clients must be 1..256 and seconds 0..3600")
    proc = None
    if args.url:
        url = _loopback(args.url)
    else:
        # the ask limit would turn a load test into a rate-limit test
        os.environ.setdefault("KB_RATE_LIMIT_ASK", "1000000/minute")
        proc, url = start_server()
    try:
        summary = run(url, args.clients, args.seconds, args.ask_every)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps(summary, indent=2))
    print(table(summary))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
    endpoints = summary["endpoints"]
    assert isinstance(endpoints, dict)
    return 1 if endpoints["all"]["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
