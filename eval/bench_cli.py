"""Wall time of CLI commands as a person runs them: ``kb stats``, and ``kb search`` with and without a server.

    KB_DATA_DIR=data/eval KB_COLLECTION=gold python -m eval.bench_cli

Needs an ingested store (the configured ``KB_DATA_DIR`` and ``KB_COLLECTION``). Each command
runs ``--runs`` times in a fresh process (interpreter start included); medians are reported:

- ``kb stats --json`` on the store (no model);
- ``kb search QUERY --json`` on the store: imports torch and loads the model every time;
- the same search while ``kb serve`` holds the store: it goes through the server's API.

Results go to ``eval/results/bench-cli.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eval.run import machine
from kb.remote import address_path
from kb.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results"
QUERIES = [
    "How is the national support structure funded?",
    "¿Qué ministerios participan en el grupo de trabajo polaco?",
    "Wer initiiert die niederländische Missionsplattform?",
]


def _time(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"kb {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return seconds


def _times(commands: list[list[str]], env: dict[str, str]) -> dict[str, Any]:
    seconds = [_time(args, env) for args in commands]
    return {"runs_s": [round(s, 3) for s in seconds], "median_s": round(statistics.median(seconds), 3)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write the results files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    settings = Settings()
    result: dict[str, Any] = {"machine": machine(), "runs": args.runs}
    stats = [["stats", "--json"]] * args.runs
    result["stats"] = _times(stats, env)
    result["search_on_store"] = _times([["search", QUERIES[0], "--json"]] * args.runs, env)
    port = _free_port()
    record = address_path(settings.store_dir, settings.collection)
    server = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not record.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("kb serve did not start")
            time.sleep(0.5)
        _time(["search", "warm-up", "--json"], env)
        searches = [["search", QUERIES[i % len(QUERIES)], "--json"] for i in range(args.runs)]
        result["search_through_server"] = _times(searches, env)
        result["stats_through_server"] = _times(stats, env)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench-cli.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"# CLI wall time, fresh process each run (median of {args.runs})",
        "",
        "| command | median s | runs |",
        "|---|---|---|",
    ]
    for key in ("stats", "stats_through_server", "search_on_store", "search_through_server"):
        lines.append(f"| {key.replace('_', ' ')} | {result[key]['median_s']} | {result[key]['runs_s']} |")
    (RESULTS / "bench-cli.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
