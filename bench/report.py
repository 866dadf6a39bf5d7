"""The bench's output: one markdown table (a column per policy count) and the JSON document.

Owns: formatting figures and the SPEC §6 goal checks. Never does: measure.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

GOAL_P99_RATIO = 1.5
GOAL_RSS_MB = 200
GOAL_RENDER_S = 1.0


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f} s"


def _verbs(counts: dict[str, int]) -> str:
    return ", ".join(f"{verb} {count}" for verb, count in counts.items()) or "none"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def rows(figures: dict) -> list[tuple[str, str]]:
    """(label, value) for one policy count, in table order."""
    out: list[tuple[str, str]] = []
    reaction = figures.get("reaction")
    if reaction:
        fs, fl = reaction["failsync"], reaction["floor"]
        out += [("reaction median: failsync / floor", f"{_ms(fs['median_s'])} / {_ms(fl['median_s'])}"),
                ("reaction p99: failsync / floor", f"{_ms(fs['p99_s'])} / {_ms(fl['p99_s'])}"),
                ("reaction p99 ratio failsync/floor (goal ≤ 1.5)", _fmt_ratio(figures["p99_ratio"])),
                ("reaction median ratio failsync/floor", _fmt_ratio(figures["median_ratio"])),
                ("events measured (failsync + floor), missed",
                 f"{fs['events']} + {fl['events']}, {fs['missed'] + fl['missed']} missed")]
    sync = figures.get("sync")
    if sync:
        for state in ("scratch", "converged"):
            fs, fl = sync["failsync"][state], sync["floor"][state]
            label = "from scratch" if state == "scratch" else "when converged"
            out += [(f"`sync` {label}: requests failsync", _verbs(fs["requests"])),
                    (f"`sync` {label}: requests floor", _verbs(fl["requests"])),
                    (f"`sync` {label}: wall failsync / floor", f"{_s(fs['wall_s'])} / {_s(fl['wall_s'])}")]
    loop = figures.get("loop")
    if loop:
        out += [("`run` from start to converged (creates every TrafficSplit)", _s(loop["converge_s"])),
                ("`run` RSS when converged (peak) (goal < 200 MB)",
                 f"{loop['rss_mb']:.0f} MB ({loop['hwm_mb']:.0f} MB)"),
                ("`run` CPU to converge", _s(loop["cpu_s"]))]
    steady = figures.get("steady")
    if steady:
        out += [(f"steady state over {steady['window_s']:.0f} s: writes (goal 0)", str(steady["writes"])),
                (f"steady state over {steady['window_s']:.0f} s: `run` CPU",
                 f"{steady['cpu_s']:.2f} s ({100 * steady['cpu_s'] / steady['window_s']:.1f}% of a core)"),
                ("steady state: requests", _verbs(steady["requests"]))]
    dropin = figures.get("dropin") or {}
    if dropin.get("loop"):
        out += [("drop-in `run --adopt` from start to converged (patches every adopted TrafficSplit)",
                 _s(dropin["loop"]["converge_s"])),
                ("drop-in start-to-converged ratio to `run` on policy files (goal ≤ 1.5)",
                 _fmt_ratio(figures.get("dropin_converge_ratio"))),
                ("drop-in RSS when converged (peak)", f"{dropin['loop']['rss_mb']:.0f} MB ({dropin['loop']['hwm_mb']:.0f} MB)")]
    if dropin.get("reaction"):
        fs, fl = dropin["reaction"]["failsync"], dropin["reaction"]["floor"]
        out += [("drop-in reaction p99: failsync / floor", f"{_ms(fs['p99_s'])} / {_ms(fl['p99_s'])}"),
                ("drop-in reaction p99 ratio failsync/floor (goal ≤ 1.5)", _fmt_ratio(figures.get("dropin_p99_ratio")))]
    routes = figures.get("routes") or {}
    if routes.get("reaction"):
        fs, fl = routes["reaction"]["failsync"], routes["reaction"]["floor"]
        out += [("HTTPRoute reaction p99: failsync / floor", f"{_ms(fs['p99_s'])} / {_ms(fl['p99_s'])}"),
                ("HTTPRoute reaction p99 ratio failsync/floor (goal ≤ 1.5)", _fmt_ratio(figures.get("route_p99_ratio")))]
    if routes.get("sync"):
        for state in ("scratch", "converged"):
            label = "from scratch" if state == "scratch" else "when converged"
            out += [(f"HTTPRoute `sync` {label}: requests failsync / floor",
                     f"{_verbs(routes['sync']['failsync'][state]['requests'])} / "
                     f"{_verbs(routes['sync']['floor'][state]['requests'])}")]
    if routes.get("loop"):
        out += [("HTTPRoute `run` to converged; RSS (peak)",
                 f"{_s(routes['loop']['converge_s'])}; {routes['loop']['rss_mb']:.0f} MB ({routes['loop']['hwm_mb']:.0f} MB)")]
    if routes.get("steady"):
        out += [(f"HTTPRoute steady state over {routes['steady']['window_s']:.0f} s: writes (goal 0)",
                 str(routes["steady"]["writes"]))]
    render = figures.get("render")
    if render:
        out += [("`render` wall, subprocess (goal < 1 s)", _s(render["subprocess_wall_s"])),
                ("`render` in-process: load / render / emit",
                 f"{_s(render['load_s'])} / {_s(render['render_s'])} / {_s(render['emit_s'])}"),
                ("interpreter + `import failsync.cli`", _s(render["import_wall_s"]))]
    return out


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def add_derived(figures: dict) -> None:
    """Ratios and goal verdicts, stored into the figures (so the JSON carries them too)."""
    reaction = figures.get("reaction")
    goals = {}
    if reaction:
        figures["p99_ratio"] = _ratio(reaction["failsync"]["p99_s"], reaction["floor"]["p99_s"])
        figures["median_ratio"] = _ratio(reaction["failsync"]["median_s"], reaction["floor"]["median_s"])
        goals["reaction_p99_within_1.5x_floor"] = figures["p99_ratio"] is not None and \
            figures["p99_ratio"] <= GOAL_P99_RATIO
    dropin = figures.get("dropin") or {}
    if dropin.get("loop") and figures.get("loop"):
        figures["dropin_converge_ratio"] = _ratio(dropin["loop"]["converge_s"], figures["loop"]["converge_s"])
        goals["dropin_converge_within_1.5x_files"] = figures["dropin_converge_ratio"] <= GOAL_P99_RATIO
    if dropin.get("reaction"):
        figures["dropin_p99_ratio"] = _ratio(dropin["reaction"]["failsync"]["p99_s"], dropin["reaction"]["floor"]["p99_s"])
        goals["dropin_reaction_p99_within_1.5x_floor"] = figures["dropin_p99_ratio"] is not None and \
            figures["dropin_p99_ratio"] <= GOAL_P99_RATIO
    routes = figures.get("routes") or {}
    if routes.get("reaction"):
        figures["route_p99_ratio"] = _ratio(routes["reaction"]["failsync"]["p99_s"], routes["reaction"]["floor"]["p99_s"])
        goals["route_reaction_p99_within_1.5x_floor"] = figures["route_p99_ratio"] is not None and \
            figures["route_p99_ratio"] <= GOAL_P99_RATIO
    if routes.get("steady"):
        goals["route_zero_steady_writes"] = routes["steady"]["writes"] == 0
    if routes.get("loop"):
        goals["route_rss_under_200mb"] = routes["loop"]["rss_mb"] < GOAL_RSS_MB
    if figures.get("loop"):
        goals["rss_under_200mb"] = figures["loop"]["rss_mb"] < GOAL_RSS_MB
    if figures.get("steady"):
        goals["zero_steady_writes"] = figures["steady"]["writes"] == 0
    if figures.get("render"):
        goals["render_under_1s"] = figures["render"]["subprocess_wall_s"] < GOAL_RENDER_S
    sync = figures.get("sync")
    if sync:
        fs, fl = sync["failsync"], sync["floor"]
        goals["sync_requests_as_floor"] = all(
            _writes_and_lists(fs[s]["requests"]) == _writes_and_lists(fl[s]["requests"]) for s in fs)
    figures["goals"] = goals


def _writes_and_lists(counts: dict[str, int]) -> dict[str, int]:
    return {verb: count for verb, count in counts.items() if verb not in ("discovery",)}


def markdown(results: dict[int, dict], command: str) -> str:
    counts = sorted(results)
    table = {label: {} for n in counts for label, _ in rows(results[n])}
    for n in counts:
        for label, value in rows(results[n]):
            table[label][n] = value
    lines = [f"| figure | {' | '.join(f'{n:,} policies' for n in counts)} |",
             f"|---|{'---|' * len(counts)}"]
    for label, values in table.items():
        lines.append(f"| {label} | {' | '.join(values.get(n, '—') for n in counts)} |")
    verdicts = []
    for n in counts:
        for goal, held in results[n].get("goals", {}).items():
            verdicts.append(f"- {n:,} policies: {goal}: {'holds' if held else 'DOES NOT HOLD'}")
    return "\n".join([f"Command: `{command}`  ", f"Machine: {platform.machine()}, {platform.python_implementation()} "
                      f"{platform.python_version()}, {_cpus()} CPUs (shared)", "", *lines, "", *verdicts, ""])


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def write_json(results: dict[int, dict], path: Path, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": command, "results": {str(n): r for n, r in results.items()}}, indent=1))
