"""``python -m bench.metrics_cost`` (the measurement behind keeping the hand-written exposition) still runs.

Covers: the failsync variant measures a handful of policies and prints its one-line figure (presence only,
never speed; the prometheus_client variant needs a package failsync does not depend on).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_metrics_cost_measurement_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.metrics_cost", "--variant", "failsync", "--policies", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("failsync: series +") and "one scrape" in done.stdout
