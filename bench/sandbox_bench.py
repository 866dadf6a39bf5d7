"""Sandbox figures: LIST of 10,000 objects over HTTP, unpaged and in pages (the ratio the spec
bounds at 2x), and how long one change takes to reach 200 concurrent watch streams (median / p99).
Prints a markdown table; asserts nothing.

Run: ``.venv/bin/python bench/sandbox_bench.py [--objects N] [--watchers N] [--rounds N] [--limit N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import requests

from failsync.sandbox import Sandbox


def _config_map_like(index: int) -> dict:
    return {"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
            "metadata": {"name": f"split-{index:05d}", "namespace": "bench", "labels": {"app": f"a{index % 10}"}},
            "spec": {"service": f"svc-{index}", "backends": [{"service": f"svc-{index}", "weight": 1},
                                                             {"service": f"svc-{index}-east", "weight": 0}]}}


def bench_list(url: str, rounds: int) -> list[float]:
    """Seconds per full LIST (no limit) of the bench namespace."""
    timings = []
    with requests.Session() as session:
        for _ in range(rounds):
            started = time.perf_counter()
            response = session.get(f"{url}/apis/split.smi-spec.io/v1alpha4/namespaces/bench/trafficsplits")
            items = response.json()["items"]
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200 and items
    return timings


def bench_paged_list(url: str, rounds: int, limit: int) -> list[float]:
    """Seconds per LIST of the bench namespace read in pages of ``limit``, following the continue tokens."""
    timings = []
    with requests.Session() as session:
        for _ in range(rounds):
            started = time.perf_counter()
            params: dict[str, str | int] = {"limit": limit}
            items = 0
            while True:
                response = session.get(f"{url}/apis/split.smi-spec.io/v1alpha4/namespaces/bench/trafficsplits",
                                       params=params)
                assert response.status_code == 200, response.text
                page = response.json()
                items += len(page["items"])
                token = page["metadata"].get("continue")
                if not token:
                    break
                params = {"limit": limit, "continue": token}
            timings.append(time.perf_counter() - started)
            assert items > 0
    return timings


def bench_watch(sandbox: Sandbox, watchers: int, rounds: int) -> list[float]:
    """Seconds from a write to each watcher receiving its event, over several writes."""
    cluster = sandbox["bench"]
    url = f"{cluster.url}/apis/split.smi-spec.io/v1alpha4/namespaces/bench/trafficsplits"
    revision = json.loads(requests.get(url, params={"limit": 1}).text)["metadata"]["resourceVersion"]
    received: list[list[float]] = [[] for _ in range(rounds)]
    lock = threading.Lock()
    ready = threading.Barrier(watchers + 1)

    def watch() -> None:
        with requests.get(url, params={"watch": "true", "resourceVersion": revision,
                                       "fieldSelector": "metadata.name=split-00000"}, stream=True) as response:
            ready.wait()
            seen = 0
            for line in response.iter_lines(chunk_size=None):
                if not line:
                    continue
                now = time.perf_counter()
                with lock:
                    received[seen].append(now)
                seen += 1
                if seen == rounds:
                    return

    threads = [threading.Thread(target=watch, daemon=True) for _ in range(watchers)]
    for thread in threads:
        thread.start()
    ready.wait()
    while cluster.store.watcher_count() < watchers:
        time.sleep(0.01)
    latencies = []
    for round_index in range(rounds):
        obj = _config_map_like(0)
        obj["spec"]["backends"][0]["weight"] = round_index + 2
        started = time.perf_counter()
        cluster.apply(obj)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len(received[round_index]) == watchers:
                    break
            time.sleep(0.001)
        with lock:
            latencies.extend(t - started for t in received[round_index])
    for thread in threads:
        thread.join(timeout=5)
    return latencies


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=500,
                        help="page size of the paged LIST (failsync's watch caches read pages of 500)")
    options = parser.parse_args()
    with Sandbox(clusters=("bench",), history=max(1000, options.objects + 100)) as sandbox:
        started = time.perf_counter()
        for index in range(options.objects):
            sandbox["bench"].apply(_config_map_like(index))
        load = time.perf_counter() - started
        lists = bench_list(sandbox["bench"].url, options.rounds)
        paged = bench_paged_list(sandbox["bench"].url, options.rounds, options.limit)
        latencies = sorted(bench_watch(sandbox, options.watchers, options.rounds))
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print("| sandbox figure | value |")
    print("|---|---|")
    print(f"| create {options.objects:,} objects (in-process) | {load:.2f} s |")
    print(f"| LIST of {options.objects:,} objects over HTTP (median of {options.rounds}) | "
          f"{_ms(statistics.median(lists))} |")
    print(f"| the same LIST in pages of {options.limit} (median of {options.rounds}) | "
          f"{_ms(statistics.median(paged))} |")
    print(f"| paged / unpaged (goal ≤ 2) | {statistics.median(paged) / statistics.median(lists):.2f}× |")
    print(f"| one change reaching {options.watchers} watchers: median | {_ms(statistics.median(latencies))} |")
    print(f"| one change reaching {options.watchers} watchers: p99 | {_ms(p99)} |")
    print(f"| events delivered | {len(latencies)} of {options.watchers * options.rounds} |")


if __name__ == "__main__":
    main()
