"""``python -m bench.metrics_cost``: what failsync's metrics cost at N policies, hand-written
exposition against ``prometheus_client`` (the question of issue 11: switch unless it costs more
than 10 MB of RSS or 10 % of a core at 10,000 policies).

Each variant runs in its own interpreter: the series of N policies (ready endpoints per
backend, active backends, a reconcile counter) are set once, then /metrics is rendered three
times and 2,000 reconciles' updates are made. Prints RSS added by the series and CPU per
scrape and per update. Needs ``pip install prometheus_client`` for the second variant.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


def _measure(variant: str, count: int) -> str:
    if variant == "prometheus_client":
        from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

        registry = CollectorRegistry()
        ready = Gauge("failsync_backend_ready_endpoints", "h", ["namespace", "name", "backend"], registry=registry)
        active = Gauge("failsync_active_backends", "h", ["namespace", "name"], registry=registry)
        reconciles = Counter("failsync_reconciles", "h", ["result"], registry=registry)

        def update(value: int, namespace: str, name: str, backends: tuple[str, ...]) -> None:
            for backend in backends:
                ready.labels(namespace, name, backend).set(value)
            active.labels(namespace, name).set(1)
            reconciles.labels("patched").inc()

        def expose() -> bytes:
            return generate_latest(registry)
    else:
        from failsync.observability import Metrics

        metrics = Metrics()

        def update(value: int, namespace: str, name: str, backends: tuple[str, ...]) -> None:
            for backend in backends:
                metrics.ready_endpoints.set(value, namespace=namespace, name=name, backend=backend)
            metrics.active_backends.set(1, namespace=namespace, name=name)
            metrics.reconciles.inc(result="patched")

        def expose() -> bytes:
            return metrics.expose().encode()

    policies = [(f"fs-{n:05d}", "web", ("web", "web-east") + (("web-central",) if n % 2 else ()))
                for n in range(count)]
    gc.collect()
    base = _rss_mb()
    for policy in policies:
        update(1, *policy)
    gc.collect()
    added = _rss_mb() - base
    started = time.process_time()
    for _ in range(3):
        body = expose()
    scrape = (time.process_time() - started) / 3
    started = time.process_time()
    for policy in policies[:2000]:
        update(0, *policy)
    per_update = (time.process_time() - started) / 2000
    return (f"{variant}: series +{added:.1f} MB RSS; one scrape {scrape * 1000:.0f} ms CPU "
            f"({len(body) / 1e6:.1f} MB); one reconcile's updates {per_update * 1e6:.0f} us CPU")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=10000)
    parser.add_argument("--variant", choices=("failsync", "prometheus_client"))
    options = parser.parse_args(argv)
    if options.variant:
        print(_measure(options.variant, options.policies))
        return 0
    for variant in ("failsync", "prometheus_client"):
        subprocess.run([sys.executable, "-m", "bench.metrics_cost", "--variant", variant,
                        "--policies", str(options.policies)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
