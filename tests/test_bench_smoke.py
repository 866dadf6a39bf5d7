"""The bench runs end to end on a tiny workload and produces every figure group.

Covers: ``python -m bench --quick`` with a handful of policies writes JSON and a markdown
table carrying reaction (failsync and floor), one-shot sync request counts, the loop's
footprint, the steady-state write count and render times. Asserts presence, never speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_produces_every_figure(tmp_path: Path) -> None:
    json_file, markdown_file = tmp_path / "figures.json", tmp_path / "figures.md"
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--policies", "8", "--events", "3",
                             "--steady", "1", "--floor-policies", "4", "--json", str(json_file),
                             "--markdown", str(markdown_file)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(json_file.read_text())["results"]["8"]
    for tool in ("failsync", "floor"):
        assert figures["reaction"][tool]["events"] == 3
        assert figures["reaction"][tool]["median_s"] is not None
        assert figures["sync"][tool]["scratch"]["requests"]["create"] == 8
    assert figures["sync"]["failsync"]["scratch"]["correct"] is True
    assert "create" not in figures["sync"]["failsync"]["converged"]["requests"]
    assert figures["loop"]["rss_mb"] > 0
    assert figures["steady"]["writes"] == 0
    assert figures["render"]["objects"] == 8
    assert "reaction p99 ratio failsync/floor" in markdown_file.read_text()
