"""Child processes pinned to a core, and what /proc says about them (CPU, RSS, idleness)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SERVER_CORE = 0
GENERATOR_CORE = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


def raise_fd_limit() -> int:
    """Children inherit it: 5,000 sockets need more than the usual 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


@contextlib.contextmanager
def favoured(nice: int) -> Iterator[str]:
    """Favour the benchmark over other work on the machine, where that is allowed.

    Linux schedules sessions ("autogroups") against each other before it looks
    at a process's own nice value, so the nice value that counts is the
    session's. It is restored on the way out. Returns what was in effect.
    """
    autogroup = Path("/proc/self/autogroup")
    try:
        before = autogroup.read_text().split()[-1]
        autogroup.write_text(str(nice))
    except (OSError, IndexError):
        yield "normal priority (could not change it)"
        return
    try:
        yield f"session nice {nice} (was {before})"
    finally:
        with contextlib.suppress(OSError):
            autogroup.write_text(before)


def pin_self(core: int) -> None:
    """Keep the driver off the server's core."""
    os.sched_setaffinity(0, {core})


@dataclass
class Child:
    """One started process; ``stop`` always reaps it (TERM, then KILL)."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.returncode is None

    async def stop(self, grace: float = 5.0) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


async def start(
    name: str,
    argv: list[str],
    *,
    core: int | str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    pipes: bool = False,
) -> Child:
    """Start ``argv`` under ``taskset -c core`` (a core, or a list like "0,1"); output goes to
    ``log_dir/name.log``."""
    log_path = _log_file(log_dir, name)
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            "taskset",
            "-c",
            str(core),
            *argv,
            stdin=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if pipes else log,
            stderr=log,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            limit=16 * 1024 * 1024,
            preexec_fn=_die_with_parent,
        )
    return Child(name, process, log_path)


def _log_file(log_dir: Path, name: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir / f"{name}.log"


def _die_with_parent() -> None:
    """In the child: get SIGKILL if the driver dies without cleaning up (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """The process's child pids (``taskbell serve --workers N``'s workers), from /proc."""
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU of the process and its live children: a server with workers counts as one."""
    total = cpu_seconds(pid)
    for child in children(pid):
        with contextlib.suppress(OSError, ValueError):
            total += cpu_seconds(child)
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def core_busy() -> dict[int, tuple[int, int]]:
    """Per core: (busy ticks, all ticks) since boot, from /proc/stat."""
    cores: dict[int, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values[:8]]
            idle = ticks[3] + ticks[4]
            cores[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return cores


async def wait_idle(
    pid: int, *, window: float = 0.5, max_percent: float = 5.0, limit: float = 30.0
) -> bool:
    """Wait at most ``limit`` s for the process to use <= ``max_percent`` of a core, twice."""
    deadline = time.monotonic() + limit
    quiet = 0
    while time.monotonic() < deadline:
        before = tree_cpu_seconds(pid)
        await asyncio.sleep(window)
        used = 100 * (tree_cpu_seconds(pid) - before) / window
        quiet = quiet + 1 if used <= max_percent else 0
        if quiet >= 2:
            return True
    return False


async def machine_load(seconds: float = 1.0) -> float:
    """Percent of all cores busy over ``seconds`` (before we start anything: other work)."""
    before = core_busy()
    await asyncio.sleep(seconds)
    after = core_busy()
    busy = sum(after[c][0] - before[c][0] for c in after)
    total = sum(after[c][1] - before[c][1] for c in after)
    return 100 * busy / total if total else 0.0


async def wait_quiet_machine(*, max_percent: float, limit: float) -> float:
    """Give other work on the machine a bounded chance to finish; returns the last load seen."""
    deadline = time.monotonic() + limit
    load = await machine_load()
    while load > max_percent and time.monotonic() < deadline:
        load = await machine_load()
    return load
