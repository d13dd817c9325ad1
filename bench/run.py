"""Run the TaskBell benchmark: the peers and TaskBell, one load generator, one report.

    .venv/bin/python bench/run.py            # full run (~15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # smoke test (< 2 minutes)
    .venv/bin/python bench/run.py --baseline HEAD~1   # and the commit before, as a peer

Servers run on core 0 (``taskset -c 0``), the Node load generator and this
driver on core 1. Results: bench/results/latest.{md,json,png}; server and
generator logs: bench/results/raw/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import baseline
import procs
import report
import targets
from loadgen import LoadGen
from plan import FULL, QUICK, Plan
from scenarios import Runner

HERE = Path(__file__).resolve().parent
log = logging.getLogger("bench")

TargetFactory = Callable[[Path], AbstractAsyncContextManager[targets.Target]]
ALL_TARGETS = ("ceiling", "node", "taskbell_postgres", "taskbell_postgres_w2", "taskbell_sqlite")
BASELINE = "taskbell_baseline"  # only with --baseline; runs right after taskbell_postgres
POSTGRES_TARGETS = ("taskbell_postgres", "taskbell_postgres_w2", BASELINE)
QUIET_PERCENT = 20.0
PRIORITY = -10  # the benchmark's session nice value, when the user may set it


def _factories(plan: Plan, base: targets.Build | None) -> dict[str, TargetFactory]:
    # TaskBell also gets S7's crowd: as many members of project P as S5 opens sockets.
    crowd = plan.connect
    factories: dict[str, TargetFactory] = {
        "ceiling": targets.ceiling,
        "node": targets.graphql_ws_peer,
        "taskbell_postgres": lambda logs: targets.taskbell(logs, "postgres", crowd),
        "taskbell_postgres_w2": lambda logs: targets.taskbell(logs, "postgres", workers=2),
        "taskbell_sqlite": lambda logs: targets.taskbell(logs, "sqlite", crowd),
    }
    if base is not None:
        factories[BASELINE] = lambda logs: targets.taskbell(logs, "postgres", build=base)
    return factories


async def _missing_services(name: str) -> str | None:
    if name in POSTGRES_TARGETS:
        if not await targets.postgres_available():
            return "PostgreSQL is not reachable on 127.0.0.1:5432"
        if not await targets.redis_available():
            return "Redis is not reachable on 127.0.0.1:6379"
    return None


async def measure_target(
    name: str, plan: Plan, raw: Path, base: targets.Build | None = None
) -> dict[str, Any]:
    """Start the target and a fresh load generator, run every scenario, stop both."""
    missing = await _missing_services(name)
    if missing:
        log.warning("skipping %s: %s", name, missing)
        return {"skipped": missing}
    # Other work on the machine skews every figure: give it a bounded chance to end, and say so.
    load = await procs.wait_quiet_machine(max_percent=QUIET_PERCENT, limit=plan.quiet_wait_seconds)
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        target = await stack.enter_async_context(_factories(plan, base)[name](raw))
        gen = await LoadGen.start(raw / name)
        stack.push_async_callback(gen.stop)
        try:
            runner = Runner(target, gen, plan)
            if target.workers > 1:
                result = await runner.run_s1_s6()
            else:
                on_postgres = name in POSTGRES_TARGETS
                result = await runner.run(mutations=on_postgres, sse=on_postgres)
        except Exception as error:
            log.exception("%s failed", name)
            return {
                "failed": f"{type(error).__name__}: {error}",
                "serverLog": target.server.log_tail(),
            }
        result["label"] = target.label
        result["seconds"] = round(time.monotonic() - started, 1)
        result["machineLoadBeforePercent"] = round(load, 1)
        return result


def _environment() -> dict[str, Any]:
    def version(argv: list[str]) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        return "unknown"

    git = version(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"])
    dirty = version(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "taskbell"])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git + ("+local changes" if dirty else ""),
        "python": platform.python_version(),
        "node": version(["node", "--version"]),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
    }


async def run(
    plan: Plan, names: list[str], raw: Path, base: targets.Build | None = None
) -> dict[str, Any]:
    # SIGTERM (e.g. from make or CI) unwinds like Ctrl-C, so every child is stopped.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    results: dict[str, Any] = {"plan": plan.__dict__, "environment": _environment(), "targets": {}}
    for name in names:
        log.info("== %s", name)
        results["targets"][name] = await measure_target(name, plan, raw, base)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument(
        "--targets", default=",".join(ALL_TARGETS), help=f"comma-separated subset of {ALL_TARGETS}"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also run TaskBell PG+Redis at this git commit (its own worktree and venv)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    names = [n for n in args.targets.split(",") if n]
    if unknown := set(names) - set(ALL_TARGETS):
        parser.error(f"unknown targets: {sorted(unknown)}")
    if (os.cpu_count() or 1) < 2:
        parser.error("needs 2 cores: the server on core 0, the load generator on core 1")
    if not (HERE / "node_modules" / "ws").is_dir() or shutil.which("node") is None:
        parser.error("run `npm ci --prefix bench` first (Node 20+)")
    procs.raise_fd_limit()
    procs.pin_self(procs.GENERATOR_CORE)
    plan = QUICK if args.quick else FULL
    raw = args.out / "raw"
    base = None
    if args.baseline:
        base, commit = baseline.prepare(args.baseline, HERE / "results" / "raw")
        at = names.index("taskbell_postgres") + 1 if "taskbell_postgres" in names else len(names)
        names.insert(at, BASELINE)
    started = time.monotonic()
    try:
        with procs.favoured(PRIORITY) as priority:
            log.info("running at %s", priority)
            results = asyncio.run(run(plan, names, raw, base))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.error("interrupted: every child process was stopped, nothing written")
        return 130
    results["environment"]["priority"] = priority
    if base is not None:
        results["baseline"] = {"ref": args.baseline, "commit": commit, "label": base.name}
    if (commit := _environment()["commit"]) != results["environment"]["commit"]:
        # Others may change the tree during a run: then say which code was measured.
        results["environment"]["commit"] += f" (at the end: {commit})"
    results["seconds"] = round(time.monotonic() - started, 1)
    # A smoke test must not overwrite the published figures: it goes to raw/.
    out, stem = (args.out, "latest") if plan is FULL else (raw, "quick")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text(report.markdown(results))
    report.chart(results, out / f"{stem}.png")
    print(report.markdown(results))
    log.info("wrote %s/%s.{md,json,png} in %.0f s", out, stem, results["seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
