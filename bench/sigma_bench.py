"""trailduck benchmark of Sigma rules (``python bench/run.py --sigma DIR [DIR...]``): the time to convert each
rule, and to run each over the lake of the generated trail, against the built-in detections measured in the same
run. The issue's targets: under 1 s per rule per million events, and under 50 ms to convert a rule.

Named ``sigma_bench`` and not ``sigma``: run.py runs as a script, so its folder comes first on ``sys.path`` and a
``bench/sigma.py`` would hide pySigma's ``sigma`` package from trailduck.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from run import run_cli, timed

import trailduck
from trailduck.analysis.report import run_report
from trailduck.errors import TrailduckError
from trailduck.lake.folder import Lake
from trailduck.sigma.rules import Rule, load_rules
from trailduck.sigma.run import run_sigma

#: The issue's targets.
RUN_TARGET_S = 1.0  # per rule per million events
CONVERT_TARGET_S = 0.050  # per rule
#: How much of an unsupported reason groups the rules.
REASON_CHARS = 60


def sigma_bench(
    root: Path, work: Path, events: int, dirs: Sequence[Path], repeat: int, out: Path | None
) -> None:
    """Ingest the trail in ``root`` once, then convert and run the rules in ``dirs``, taking turns with the
    built-in detections ``repeat`` times; print the figures and write them to ``out`` when given."""
    lake_path = work / "lake"
    ingest_s, summary, _ = run_cli(["ingest", str(root), "--lake", str(lake_path), "--no-progress"])
    assert summary["events"] == events, summary
    conversion = convert(dirs, repeat)
    rules: list[Rule] = conversion.pop("rules")
    runnable = [r for r in rules if r.condition is not None]
    lake = Lake(lake_path)
    con = lake.connect(read_only=True)
    try:
        run = run_turns(lake, con, runnable, repeat)
    finally:
        con.close()
    millions = events / 1e6
    per_rule_1m = run["sigma_total_s"] / max(len(runnable), 1) / millions
    per_detection = run["baseline_total_s"] / run["detections"]
    slow = [
        {**row, "per_1m_s": row["seconds"] / millions}
        for row in sorted(run["rules"], key=lambda r: r["seconds"], reverse=True)
    ]
    result: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "versions": {"trailduck": trailduck.__version__, "duckdb": duckdb.__version__},
        "events": events,
        "repeat": repeat,
        "ingest_s": ingest_s,
        "dirs": [str(d) for d in dirs],
        "rules": {
            "loaded": len(rules),
            "runnable": len(runnable),
            "unsupported": len(rules) - len(runnable),
            "unsupported_reasons": dict(
                Counter(r.unsupported[:REASON_CHARS] for r in rules if r.unsupported).most_common()
            ),
        },
        "conversion": conversion,
        "run": {
            "sigma_total_s": run["sigma_total_s"],
            "sigma_pass_totals_s": run["sigma_pass_totals_s"],
            "per_rule_s": run["sigma_total_s"] / max(len(runnable), 1),
            "per_rule_per_1m_events_s": per_rule_1m,
            "baseline_total_s": run["baseline_total_s"],
            "baseline_pass_totals_s": run["baseline_pass_totals_s"],
            "baseline_detections": run["detections"],
            "baseline_per_detection_s": per_detection,
            "per_rule_vs_per_detection": (run["sigma_total_s"] / max(len(runnable), 1)) / per_detection,
            "slowest": slow[:10],
            "over_target": [r for r in slow if r["per_1m_s"] > RUN_TARGET_S],
            "errors": run["errors"],
        },
        "targets": {
            "run_per_rule_per_1m_s": RUN_TARGET_S,
            "run_met": per_rule_1m < RUN_TARGET_S,
            "convert_per_rule_s": CONVERT_TARGET_S,
            "convert_p95_met": conversion["p95_s"] < CONVERT_TARGET_S,
            "convert_max_met": conversion["max_s"] < CONVERT_TARGET_S,
        },
    }
    report(result)
    if out:
        out.write_text(json.dumps(result, indent=2, default=str))


def convert(dirs: Sequence[Path], repeat: int) -> dict[str, Any]:
    """Load the rules ``repeat`` times; each rule keeps its best conversion time (the first load also pays for
    pySigma's first calls). The rules of the last load are returned under ``rules``."""
    loads = [timed(lambda: load_rules(dirs)) for _ in range(max(repeat, 1))]
    best: dict[tuple[str, int], float] = {}
    for _, loaded in loads:
        for r in loaded:
            key = (str(r.file), r.number)
            best[key] = min(best.get(key, math.inf), r.seconds)
    rules: list[Rule] = loads[-1][1]
    times = sorted(best.values())
    slowest = sorted(best.items(), key=lambda kv: kv[1], reverse=True)[:5]
    return {
        "rules": rules,
        "first_load_s": loads[0][0],
        "first_load_max_s": max((r.seconds for r in loads[0][1]), default=0.0),
        "mean_s": statistics.fmean(times) if times else 0.0,
        "median_s": statistics.median(times) if times else 0.0,
        "p95_s": nearest_rank(times, 0.95),
        "max_s": times[-1] if times else 0.0,
        "slowest": [{"file": Path(f).name, "rule": n, "ms": s * 1000} for (f, n), s in slowest],
    }


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)] if ordered else 0.0


def run_turns(lake: Lake, con: duckdb.DuckDBPyConnection, rules: list[Rule], repeat: int) -> dict[str, Any]:
    """The built-in detections and the Sigma rules in turns on one connection (this machine's speed drifts
    within minutes); each rule, and each pass, keeps its best time."""
    best: dict[int, float] = {}
    counts: dict[int, int | None] = {}
    errors: dict[int, str] = {}
    baselines: list[float] = []
    passes: list[float] = []
    detections = 0
    for _ in range(max(repeat, 1)):
        seconds, findings = timed(lambda: run_report(lake, con=con))
        baselines.append(seconds)
        detections = len(findings)
        total = 0.0
        for i, rule in enumerate(rules):
            started = time.perf_counter()
            try:
                finding = run_sigma(lake, [rule], con=con)[0]
            except TrailduckError as exc:
                errors[i] = f"{type(exc).__name__}: {exc}"
                counts[i] = None
            else:
                counts[i] = finding.count
                if finding.unsupported is not None:
                    errors[i] = finding.unsupported
            elapsed = time.perf_counter() - started
            total += elapsed
            best[i] = min(best.get(i, math.inf), elapsed)
        passes.append(total)
    return {
        "detections": detections,
        "baseline_total_s": min(baselines),
        "baseline_pass_totals_s": baselines,
        "sigma_total_s": min(passes) if passes else 0.0,
        "sigma_pass_totals_s": passes,
        "rules": [
            {
                "file": rule.file.name,
                "title": rule.title,
                "seconds": best[i],
                "count": counts[i],
                "condition": rule.condition,
            }
            for i, rule in enumerate(rules)
        ],
        "errors": [
            {"file": rule.file.name, "title": rule.title, "error": errors[i], "condition": rule.condition}
            for i, rule in enumerate(rules)
            if i in errors
        ],
    }


def report(r: dict[str, Any]) -> None:
    rules, conv, run, targets = r["rules"], r["conversion"], r["run"], r["targets"]
    rows: list[tuple[str, str]] = [
        (
            "machine",
            f"{r['machine']['cores']} cores, Python {r['machine']['python']}, duckdb {r['versions']['duckdb']}",
        ),
        ("lake", f"{r['events']:,} events (ingest {r['ingest_s']:.1f} s); rules from {', '.join(r['dirs'])}"),
        ("method", f"best of {r['repeat']} turns, the built-in detections and the Sigma pass in alternation"),
        (
            "rules",
            f"{rules['loaded']} loaded: {rules['runnable']} run, {rules['unsupported']} unsupported",
        ),
    ]
    rows += [(f"  {n} x", reason) for reason, n in rules["unsupported_reasons"].items()]
    rows.append(
        (
            "conversion per rule",
            f"mean {conv['mean_s'] * 1000:.1f} ms, median {conv['median_s'] * 1000:.1f} ms, "
            f"p95 {conv['p95_s'] * 1000:.1f} ms, max {conv['max_s'] * 1000:.1f} ms "
            f"(first load {conv['first_load_s']:.2f} s in all, its max {conv['first_load_max_s'] * 1000:.0f} ms)",
        )
    )
    rows += [
        ("  slow", f"{s['ms']:.1f} ms  {s['file']}" + (f" #{s['rule']}" if s["rule"] > 1 else ""))
        for s in conv["slowest"]
    ]
    rows.append(
        (
            "Sigma pass",
            f"{run['sigma_total_s']:.2f} s for {rules['runnable']} rules "
            f"(turns: {', '.join(f'{s:.2f}' for s in run['sigma_pass_totals_s'])} s); "
            f"{run['per_rule_s'] * 1000:.0f} ms per rule, {run['per_rule_per_1m_events_s']:.3f} s per rule per 1M events",
        )
    )
    rows.append(
        (
            "built-in detections",
            f"{run['baseline_total_s']:.2f} s for {run['baseline_detections']} "
            f"(turns: {', '.join(f'{s:.2f}' for s in run['baseline_pass_totals_s'])} s); "
            f"{run['baseline_per_detection_s'] * 1000:.0f} ms per detection",
        )
    )
    rows.append(("  Sigma rule vs detection", f"{run['per_rule_vs_per_detection']:.2f}x the time"))
    rows += [
        (
            "  slow",
            f"{s['seconds'] * 1000:6.0f} ms ({s['per_1m_s']:.2f} s/1M)  {s['count']!s:>6} matches  {s['file']}",
        )
        for s in run["slowest"]
    ]
    rows.append(
        (
            "targets",
            f"run {run['per_rule_per_1m_events_s']:.3f} s per rule per 1M < {targets['run_per_rule_per_1m_s']} s: "
            f"{yes(targets['run_met'])}; {len(run['over_target'])} rule(s) over it alone; "
            f"conversion < {targets['convert_per_rule_s'] * 1000:.0f} ms: p95 {yes(targets['convert_p95_met'])}, "
            f"max {yes(targets['convert_max_met'])}",
        )
    )
    rows.append(("rules that error when run", str(len(run["errors"]))))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    for s in run["over_target"]:
        print(
            f"\nover {RUN_TARGET_S} s per 1M events: {s['file']} ({s['per_1m_s']:.2f} s/1M)\n  {s['condition']}"
        )
    for e in run["errors"]:
        print(f"\nerror: {e['file']}: {e['error']}\n  {e['condition']}")


def yes(met: bool) -> str:
    return "met" if met else "NOT met"
