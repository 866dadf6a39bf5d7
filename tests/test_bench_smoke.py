"""The bench runs end to end on a tiny workload and produces every figure of its table.

Covers: ``python -m bench --quick`` with a handful of policies writes JSON and one markdown
table carrying reaction p50/p95/p99 (failsync and the lean floor, with ratios), the burst,
one-shot sync (requests, walls, ratios), the loop's start-up and footprint (RSS per policy
above an idle ``run``), the steady-state write count, render/validate in every layout, drop-in,
HTTPRoute and remote (east -> west) reaction, ``--runs 2`` spreads, and a verdict per goal.
Asserts presence and correctness of the workload, never speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.layouts import LAYOUTS

ROOT = Path(__file__).resolve().parent.parent

ROWS = ["reaction p50: failsync / floor", "reaction p95: failsync / floor", "reaction p99: failsync / floor",
        "reaction p50 ratio failsync/floor (goal ≤ 1.5)", "reaction p99 ratio failsync/floor (goal ≤ 1.5)",
        "burst: 4 primaries die at once, until the last PATCH lands: failsync / floor",
        "burst ratio failsync/floor",
        "`sync` from scratch: ratio failsync/floor (goal ≤ 1.2)",
        "`sync` when converged: ratio failsync/floor (goal ≤ 1.5)",
        "`run` start-to-converged ratio to `sync` from scratch (goal ≤ 1.3)",
        "`run` RSS per policy above an idle `run` (goal ≤ 5 KB)",
        "steady state over 1 s: writes (goal 0)",
        *[f"`render` / `validate` wall, layout {layout} (goal < 1 s each)" for layout in LAYOUTS],
        "drop-in start-to-converged ratio to `run` on policy files (goal ≤ 1.5)",
        "drop-in reaction p99 ratio failsync/floor (goal ≤ 1.5)",
        "HTTPRoute reaction p99 ratio failsync/floor (goal ≤ 1.5)",
        "remote (east → west) reaction p99 ratio failsync/floor (goal ≤ 1.5)"]
GOALS = ["reaction_p50_within_1.5x_floor", "reaction_p99_within_1.5x_floor", "sync_scratch_within_1.2x_floor",
         "sync_converged_within_1.5x_floor", "run_converged_within_1.3x_sync_scratch",
         "rss_at_most_5kb_per_policy_above_idle", "route_reaction_p99_within_1.5x_floor",
         "dropin_reaction_p99_within_1.5x_floor", "remote_reaction_p99_within_1.5x_floor",
         *[f"render_and_validate_under_1s_{layout}" for layout in LAYOUTS]]


def test_quick_bench_produces_every_figure(tmp_path: Path) -> None:
    json_file, markdown_file = tmp_path / "figures.json", tmp_path / "figures.md"
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--policies", "8", "--events", "3",
                             "--runs", "2", "--steady", "1", "--floor-policies", "4", "--json", str(json_file),
                             "--markdown", str(markdown_file)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(json_file.read_text())["results"]["8"]
    assert len(figures["reaction"]) == 2  # --runs 2
    for run in figures["reaction"] + figures["remote"]["reaction"] + figures["routes"]["reaction"]:
        for tool in ("failsync", "floor"):
            assert run[tool]["events"] == 3 and run[tool]["missed"] == 0
            assert run[tool]["p50_s"] <= run[tool]["p95_s"] <= run[tool]["p99_s"]
    for tool in ("failsync", "floor"):
        assert figures["burst"][0][tool] == {**figures["burst"][0][tool], "size": 4, "missed": 0}
        assert figures["sync"][0][tool]["scratch"]["requests"]["create"] == 8
        assert figures["sync"][0][tool]["scratch"]["correct"] is True
        assert "create" not in figures["sync"][0][tool]["converged"]["requests"]
    assert len(figures["loop_starts"]) == len(figures["dropin"]["loop_starts"]) == 2
    assert figures["steady"]["writes"] == 0
    assert figures["render"]["objects"] == 8
    assert sorted(figures["layouts"]) == sorted(LAYOUTS)
    assert set(GOALS) <= set(figures["goals"])
    table = markdown_file.read_text()
    labels = {line.split(" | ")[0].lstrip("| ") for line in table.splitlines() if line.startswith("| ")}
    assert [row for row in ROWS if row not in labels] == []
    assert "(runs " in table  # the spread of a ratio over --runs
