"""The bench's output: one markdown table (a column per policy count), the goal verdicts, and the
JSON document.

Owns: formatting figures, ratios over runs (the median of the per-run ratios and their min-max
spread) and the goal checks. Never does: measure.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path

from bench.layouts import LAYOUTS

GOAL_REACTION_RATIO = 1.5  # p50 and p99, against the lean floor
GOAL_SYNC_CONVERGED_RATIO = 1.5
GOAL_SYNC_SCRATCH_RATIO = 1.2
GOAL_RUN_TO_SYNC_RATIO = 1.3  # run start-to-converged against one-shot sync from scratch
GOAL_DROPIN_RATIO = 1.5
GOAL_RSS_MB = 200
GOAL_RSS_KB_PER_POLICY = 5.0
GOAL_RENDER_S = 1.0


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f} s"


def _verbs(counts: dict[str, int]) -> str:
    return ", ".join(f"{verb} {count}" for verb, count in counts.items()) or "none"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _median(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


class Runs:
    """One measurement repeated ``--runs`` times: a list of ``{tool: {stat: value}}``."""

    def __init__(self, runs: list[dict]) -> None:
        self.runs = runs

    def stat(self, tool: str, key: str) -> float | None:
        return _median([run[tool][key] for run in self.runs])

    def ratios(self, key: str, tool: str = "failsync", base: str = "floor") -> list[float | None]:
        return [_ratio(run[tool][key], run[base][key]) for run in self.runs]

    def ratio(self, key: str) -> float | None:
        return _median(self.ratios(key))

    def ratio_text(self, key: str) -> str:
        return spread_text(self.ratios(key))


def spread_text(ratios: list[float | None]) -> str:
    """The median ratio and, over several runs, their min-max: ``1.21× (runs 1.12–1.35×)``."""
    present = [r for r in ratios if r is not None]
    if not present:
        return "n/a"
    text = f"{statistics.median(present):.2f}×"
    return text + (f" (runs {min(present):.2f}–{max(present):.2f}×)" if len(present) > 1 else "")


def _start_ratios(starts: list[float], bases: list[float | None]) -> list[float | None]:
    """Per run, a start-to-converged over its base (the same run's, or the bases' median when the counts differ)."""
    if len(bases) != len(starts):
        bases = [_median(bases)] * len(starts)
    return [_ratio(start, base) for start, base in zip(starts, bases)]


def _sync_runs(sync: list[dict], state: str) -> Runs:
    return Runs([{tool: run[tool][state] for tool in ("failsync", "floor")} for run in sync])


def _reaction_rows(prefix: str, reaction: list[dict]) -> list[tuple[str, str]]:
    runs = Runs(reaction)
    out = [(f"{prefix}reaction {p}: failsync / floor",
            f"{_ms(runs.stat('failsync', key))} / {_ms(runs.stat('floor', key))}")
           for p, key in (("p50", "p50_s"), ("p95", "p95_s"), ("p99", "p99_s"))]
    out += [(f"{prefix}reaction {p} ratio failsync/floor{goal}", runs.ratio_text(key))
            for p, key, goal in (("p50", "p50_s", " (goal ≤ 1.5)"), ("p95", "p95_s", ""),
                                 ("p99", "p99_s", " (goal ≤ 1.5)"))]
    events = reaction[0]
    out.append((f"{prefix}events per run (failsync + floor), missed; runs",
                f"{events['failsync']['events']} + {events['floor']['events']}, "
                f"{sum(r[t]['missed'] for r in reaction for t in ('failsync', 'floor'))} missed; {len(reaction)}"))
    return out


def rows(figures: dict) -> list[tuple[str, str]]:
    """(label, value) for one policy count, in table order."""
    out: list[tuple[str, str]] = []
    if figures.get("reaction"):
        out += _reaction_rows("", figures["reaction"])
    if figures.get("burst"):
        runs = Runs(figures["burst"])
        size = figures["burst"][0]["failsync"]["size"]
        out += [(f"burst: {size} primaries die at once, until the last PATCH lands: failsync / floor",
                 f"{_ms(runs.stat('failsync', 'burst_s'))} / {_ms(runs.stat('floor', 'burst_s'))}"),
                ("burst ratio failsync/floor", runs.ratio_text("burst_s"))]
    if figures.get("sync"):
        for state in ("scratch", "converged"):
            first = figures["sync"][0]
            label = "from scratch" if state == "scratch" else "when converged"
            samples = len(first["failsync"][state].get("samples_s", ()))
            wall = f"wall (median of each run's {samples} launches)" if samples > 1 else "wall"
            runs = _sync_runs(figures["sync"], state)
            goal = GOAL_SYNC_SCRATCH_RATIO if state == "scratch" else GOAL_SYNC_CONVERGED_RATIO
            out += [(f"`sync` {label}: requests failsync / floor",
                     f"{_verbs(first['failsync'][state]['requests'])} / {_verbs(first['floor'][state]['requests'])}"),
                    (f"`sync` {label}: {wall} failsync / floor",
                     f"{_s(runs.stat('failsync', 'wall_s'))} / {_s(runs.stat('floor', 'wall_s'))}"),
                    (f"`sync` {label}: ratio failsync/floor (goal ≤ {goal})", runs.ratio_text("wall_s"))]
            if state == "scratch" and "cpu_s" in first["failsync"][state]:
                out.append(("`sync` from scratch: failsync launch to its last write; CPU",
                            f"{_s(runs.stat('failsync', 'converged_s'))}; {_s(runs.stat('failsync', 'cpu_s'))}"))
    loop = figures.get("loop")
    if loop:
        out += [("`run` from launch to converged (its write that put the last TrafficSplit at its weights)",
                 _s(_median(figures.get("loop_starts") or [loop["converge_s"]]))),
                ("`run` start-to-converged ratio to `sync` from scratch (goal ≤ 1.3)",
                 spread_text(figures.get("run_to_sync_ratios") or [])),
                ("`run` start-to-converged ratio to `sync`'s launch to its last write",
                 spread_text(figures.get("run_to_sync_last_write_ratios") or [])),
                ("`run` RSS when converged (peak) (goal < 200 MB)",
                 f"{loop['rss_mb']:.0f} MB ({loop['hwm_mb']:.0f} MB)"),
                ("`run` RSS per policy above an idle `run` (goal ≤ 5 KB)",
                 _kb(figures.get("rss_kb_per_policy"), figures.get("baseline_rss_mb"))),
                ("`run` CPU to converge", _s(loop["cpu_s"]))]
        if "settled_s" in loop:
            out.append(("`run` from launch until every cache is in step (Services listed, no re-list running)",
                        _s(loop["settled_s"])))
    steady = figures.get("steady")
    if steady:
        out += [(f"steady state over {steady['window_s']:.0f} s: writes (goal 0)", str(steady["writes"])),
                (f"steady state over {steady['window_s']:.0f} s: `run` CPU",
                 f"{steady['cpu_s']:.2f} s ({100 * steady['cpu_s'] / steady['window_s']:.1f}% of a core)"),
                ("steady state: requests", _verbs(steady["requests"]))]
    render = figures.get("render")
    if render:
        out += [("`render` wall, bench layout, subprocess", _s(render["subprocess_wall_s"])),
                ("`render` in-process: load / render / emit",
                 f"{_s(render['load_s'])} / {_s(render['render_s'])} / {_s(render['emit_s'])}"),
                ("interpreter + `import failsync.cli`", _s(render["import_wall_s"]))]
    for layout, value in (figures.get("layouts") or {}).items():
        out.append((f"`render` / `validate` wall, layout {layout} (goal < 1 s each)",
                    f"{_s(value['render_s'])} / {_s(value['validate_s'])} ({value['files']:,} files)"))
    dropin = figures.get("dropin") or {}
    if dropin.get("loop"):
        out += [("drop-in `run --adopt` from start to converged (patches every adopted TrafficSplit)",
                 _s(_median(dropin.get("loop_starts") or [dropin["loop"]["converge_s"]]))),
                ("drop-in start-to-converged ratio to `run` on policy files (goal ≤ 1.5)",
                 spread_text(figures.get("dropin_converge_ratios") or [])),
                ("drop-in RSS when converged (peak)",
                 f"{dropin['loop']['rss_mb']:.0f} MB ({dropin['loop']['hwm_mb']:.0f} MB)")]
    if dropin.get("reaction"):
        out += _reaction_rows("drop-in ", dropin["reaction"])
    out += _other_loop_rows("HTTPRoute ", figures.get("routes") or {}, figures.get("baseline_rss_mb"))
    out += _other_loop_rows("remote (east → west) ", figures.get("remote") or {}, None)
    return out


def _other_loop_rows(prefix: str, part: dict, baseline: float | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if part.get("reaction"):
        out += _reaction_rows(prefix, part["reaction"])
    if part.get("sync"):
        for state in ("scratch", "converged"):
            first = part["sync"][0]
            label = "from scratch" if state == "scratch" else "when converged"
            out.append((f"{prefix}`sync` {label}: requests failsync / floor; wall ratio",
                        f"{_verbs(first['failsync'][state]['requests'])} / "
                        f"{_verbs(first['floor'][state]['requests'])}; "
                        f"{_sync_runs(part['sync'], state).ratio_text('wall_s')}"))
    if part.get("loop"):
        loop = part["loop"]
        out.append((f"{prefix}`run` to converged; to every cache in step; RSS (peak); per policy above idle",
                    f"{_s(loop['converge_s'])}; {_s(loop.get('settled_s'))}; {loop['rss_mb']:.0f} MB "
                    f"({loop['hwm_mb']:.0f} MB); {_kb(_per_policy(loop['rss_mb'], baseline, part['policies']), None)}"))
    if part.get("steady"):
        out.append((f"{prefix}steady state over {part['steady']['window_s']:.0f} s: writes (goal 0)",
                    str(part["steady"]["writes"])))
    return out


def _per_policy(rss_mb: float, baseline_mb: float | None, count: int) -> float | None:
    return (rss_mb - baseline_mb) * 1024 / count if baseline_mb is not None and count else None


def _kb(value: float | None, baseline: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f} KB" + (f" (idle `run`: {baseline:.0f} MB)" if baseline is not None else "")


def _within(value: float | None, goal: float) -> bool:
    return value is not None and value <= goal


def add_derived(figures: dict) -> None:
    """Ratios and goal verdicts, stored into the figures (so the JSON carries them too). A ratio
    measured over several runs is judged on the median of its runs."""
    goals: dict[str, bool] = {}
    for prefix, part in (("", figures), ("route_", figures.get("routes") or {}),
                         ("dropin_", figures.get("dropin") or {}), ("remote_", figures.get("remote") or {})):
        if part.get("reaction"):
            runs = Runs(part["reaction"])
            goals[f"{prefix}reaction_p50_within_1.5x_floor"] = _within(runs.ratio("p50_s"), GOAL_REACTION_RATIO)
            goals[f"{prefix}reaction_p99_within_1.5x_floor"] = _within(runs.ratio("p99_s"), GOAL_REACTION_RATIO)
        if part.get("steady"):
            goals[f"{prefix}zero_steady_writes"] = part["steady"]["writes"] == 0
    sync = figures.get("sync")
    if sync:
        goals["sync_scratch_within_1.2x_floor"] = _within(_sync_runs(sync, "scratch").ratio("wall_s"),
                                                          GOAL_SYNC_SCRATCH_RATIO)
        goals["sync_converged_within_1.5x_floor"] = _within(_sync_runs(sync, "converged").ratio("wall_s"),
                                                            GOAL_SYNC_CONVERGED_RATIO)
        # One write per changed object, as the floor, and no per-object GET (LIST pages may differ in number).
        goals["sync_writes_as_floor_and_no_gets"] = all(
            _writes(run["failsync"][s]["requests"]) == _writes(run["floor"][s]["requests"])
            and not run["failsync"][s]["requests"].get("get")
            for run in sync for s in ("scratch", "converged"))
    loop = figures.get("loop")
    if loop:
        goals["rss_under_200mb"] = loop["rss_mb"] < GOAL_RSS_MB
        figures["rss_kb_per_policy"] = _per_policy(loop["rss_mb"], figures.get("baseline_rss_mb"),
                                                   figures["policies"])
        goals["rss_at_most_5kb_per_policy_above_idle"] = _within(figures["rss_kb_per_policy"], GOAL_RSS_KB_PER_POLICY)
    starts = figures.get("loop_starts") or ([loop["converge_s"]] if loop else [])
    if starts and sync:
        figures["run_to_sync_ratios"] = _start_ratios(starts, [run["failsync"]["scratch"]["wall_s"] for run in sync])
        goals["run_converged_within_1.3x_sync_scratch"] = _within(_median(figures["run_to_sync_ratios"]),
                                                                  GOAL_RUN_TO_SYNC_RATIO)
        # The same end point on both sides (each one's last write), without sync's exit after it.
        writes = [run["failsync"]["scratch"].get("converged_s") for run in sync]
        if all(w is not None for w in writes):
            figures["run_to_sync_last_write_ratios"] = _start_ratios(starts, writes)
    dropin = figures.get("dropin") or {}
    if dropin.get("loop") and starts:
        figures["dropin_converge_ratios"] = _start_ratios(dropin.get("loop_starts") or [dropin["loop"]["converge_s"]],
                                                          starts)
        goals["dropin_converge_within_1.5x_files"] = _within(_median(figures["dropin_converge_ratios"]),
                                                             GOAL_DROPIN_RATIO)
    for layout, value in (figures.get("layouts") or {}).items():
        goals[f"render_and_validate_under_1s_{layout}"] = max(value["render_s"], value["validate_s"]) < GOAL_RENDER_S
    figures["goals"] = goals


def _writes(counts: dict[str, int]) -> dict[str, int]:
    return {verb: count for verb, count in counts.items() if verb in ("create", "update", "patch", "delete")}


#: Sections of the table, in order: a row's section is the first whose prefix its label starts with.
SECTIONS = ("drop-in ", "HTTPRoute ", "remote ")


def _section(label: str) -> int:
    if "layout " in label:
        return 1
    return next((2 + index for index, prefix in enumerate(SECTIONS) if label.startswith(prefix)), 0)


def markdown(results: dict[int, dict], command: str) -> str:
    """The table (a row per figure, a column per policy count) and one verdict line per goal."""
    counts = sorted(results)
    table: dict[str, dict[int, str]] = {}
    for n in counts:
        for label, value in rows(results[n]):
            table.setdefault(label, {})[n] = value
    lines = [f"| figure | {' | '.join(f'{n:,} policies' for n in counts)} |",
             f"|---|{'---|' * len(counts)}"]
    order = list(table)
    for label in sorted(order, key=lambda label: (_section(label), order.index(label))):
        values = table[label]
        lines.append(f"| {label} | {' | '.join(values.get(n, '—') for n in counts)} |")
    verdicts = [f"- {n:,} policies: {goal}: {'holds' if held else 'does not hold'}"
                for n in counts for goal, held in results[n].get("goals", {}).items()]
    return "\n".join([f"Command: `{command}`  ",
                      f"Machine: {platform.machine()}, {platform.python_implementation()} "
                      f"{platform.python_version()}, {len(os.sched_getaffinity(0))} CPUs (shared)", "",
                      *lines, "", "Goals:", "", *verdicts, ""])


def write_json(results: dict[int, dict], path: Path, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": command, "results": {str(n): r for n, r in results.items()}}, indent=1))
