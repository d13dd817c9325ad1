"""S1-S7 against one running target, in an order that reuses open sockets.

Order: warm-up; S5 connect (``plan.connect`` sockets) and S3 memory; for TaskBell,
S7 (all of them closed, then S5's storm again as ``plan.connect`` distinct members
of the project, first with nobody watching presence, then with one socket in
``plan.presence_every`` also subscribed to presenceChanged; all closed after
each); S4 bursts
from the largest size down (closing sockets between sizes), S1 being the burst
at ``plan.s1_subscribers`` and S2 right after it; for TaskBell on PostgreSQL,
S1 again over graphql-sse streams instead of WebSockets (after every WebSocket
phase, so those are measured as before), then S6.
Every measured phase starts on an idle server. A phase the server could not
finish in time leaves a backlog behind: then all sockets are closed (which
ends their subscriptions) and the next phase starts from fresh ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

import pgwaits
import procs
import targets
from loadgen import LoadGen
from plan import Plan

log = logging.getLogger("bench")


class Runner:
    def __init__(self, target: targets.Target, gen: LoadGen, plan: Plan) -> None:
        self.target = target
        self.gen = gen
        self.plan = plan
        self.open = 0
        self.notes: list[str] = []

    @property
    def pid(self) -> int:
        return self.target.server.pid

    async def measured(self, name: str, call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """Run one phase and note how busy each core was with anything but us meanwhile."""
        counters0 = await targets.server_counters(self.target)
        cores0 = procs.core_busy()
        server0, gen0 = procs.tree_cpu_seconds(self.pid), procs.cpu_seconds(self.gen.pid)
        driver0, started = time.process_time(), time.monotonic()
        result = await call
        elapsed = time.monotonic() - started
        cores1 = procs.core_busy()
        counters1 = await targets.server_counters(self.target)
        # What the server itself counted meanwhile (replays from the log, publish failures...).
        result["serverCounters"] = {
            name: value - counters0.get(name, 0.0)
            for name, value in counters1.items()
            if value != counters0.get(name, 0.0)
        }
        server = procs.tree_cpu_seconds(self.pid) - server0
        generator = procs.cpu_seconds(self.gen.pid) - gen0 + time.process_time() - driver0
        ours = {procs.SERVER_CORE: server, procs.GENERATOR_CORE: generator}

        def other(core: int) -> float:
            busy = (cores1[core][0] - cores0[core][0]) / procs.CLOCK_TICKS
            return round(max(0.0, 100 * (busy - ours[core]) / elapsed), 1)

        if self.target.workers > 1:  # the server's workers run on both cores
            both = sum((cores1[c][0] - cores0[c][0]) / procs.CLOCK_TICKS for c in (0, 1))
            spare = round(max(0.0, 100 * (both - server - generator) / elapsed / 2), 1)
            result["otherLoadPercent"] = {"core0": spare, "core1": spare}
        else:
            result["otherLoadPercent"] = {"core0": other(0), "core1": other(1)}
        log.info("%s %s: %s", self.target.name, name, _brief(result))
        return result

    async def connect(self, n: int, transport: str = "ws", **crowd: Any) -> dict[str, Any]:
        result = await self.gen.call(
            "connect",
            limit=self.plan.connect_timeout_seconds + 60,
            n=n,
            concurrency=self.plan.connect_concurrency,
            timeoutMs=self.plan.connect_timeout_seconds * 1000,
            transport=transport,
            **crowd,
        )
        self.open = result["open"]
        return result

    async def close(self, keep: int) -> None:
        result = await self.gen.call("close", limit=90, keep=keep, timeoutMs=60_000)
        self.open = result["open"]

    async def ensure(self, n: int, backlog: bool = False) -> None:
        """Exactly ``n`` subscribed sockets on an idle server."""
        if backlog and self.open:
            self.notes.append(f"backlog after a cut-off phase: closed all sockets, then opened {n}")
            await self.close(0)
        elif self.open > n:
            await self.close(n)
        if not await procs.wait_idle(self.pid, limit=20) and self.open:
            self.notes.append(f"server still busy before the {n}-socket phase: reconnected")
            await self.close(0)
        await self.idle()
        if self.open < n:
            await self.connect(n - self.open)
            await self.idle()

    async def idle(self, limit: float = 60) -> None:
        if not await procs.wait_idle(self.pid, limit=limit):
            self.notes.append(f"server not idle after {limit:.0f} s; measured anyway")

    async def burst(self, events: int, transport: str = "ws") -> dict[str, Any]:
        cap = self.plan.burst_timeout_seconds
        over = "" if transport == "ws" else f" over {transport}"
        result = await self.measured(
            f"burst {self.open}x{events}{over}",
            self.gen.call(
                "burst",
                limit=cap + 90,
                events=events,
                inflight=self.plan.trigger_inflight,
                timeoutMs=cap * 1000,
                stallMs=min(20_000, cap * 1000 // 2),
            ),
        )
        result["transport"] = transport
        if not result["complete"]:
            self.notes.append(
                f"burst at {result['subscribers']}{over} cut off after {result['seconds']:.0f} s: "
                f"{result['delivered']:,} of {result['expected']:,} delivered"
            )
        return result

    async def steady(self) -> dict[str, Any]:
        plan = self.plan
        return await self.measured(
            f"steady {plan.steady_rate}/s",
            self.gen.call(
                "steady",
                limit=plan.steady_seconds + plan.steady_grace_seconds + 90,
                rate=plan.steady_rate,
                seconds=plan.steady_seconds,
                graceMs=plan.steady_grace_seconds * 1000,
            ),
        )

    async def mutations(self) -> dict[str, Any]:
        """S6; on PostgreSQL, what the server's transactions waited on meanwhile (``pgwaits``)."""
        plan = self.plan
        dsn = self.target.postgres_dsn
        stop = asyncio.Event()
        sampling = asyncio.create_task(pgwaits.sample(dsn, stop)) if dsn else None
        try:
            result = await self.measured(
                f"mutations x{plan.mutation_clients}",
                self.gen.call(
                    "mutations",
                    limit=plan.mutation_seconds + 60,
                    clients=plan.mutation_clients,
                    seconds=plan.mutation_seconds,
                    tasks=self.target.mutation_tasks,
                ),
            )
        finally:
            stop.set()
        if sampling is not None:
            result["postgresWaits"] = await sampling
        return result

    async def crowd_storm(self) -> dict[str, Any]:
        """S7's baseline: the same distinct members connecting, nobody watching presence."""
        await self.ensure(0)
        result = await self.measured(
            f"connect {self.plan.connect} members, nobody watching presence",
            self.connect(self.plan.connect, crowd=True),
        )
        await self.close(0)
        return result

    async def presence_storm(self) -> dict[str, Any]:
        """S7: S5's storm as distinct members, one in ``plan.presence_every`` watching presence.

        Presence deliveries and server CPU are counted from the first connect until
        ``plan.presence_settle_seconds`` after the last socket is subscribed, so the
        coalesced joins of the storm's tail are in.
        """
        plan = self.plan
        await self.ensure(0)
        every = plan.presence_every
        delivered0 = (await self.gen.call("counters", limit=10))["presenceDeliveries"]
        cpu0 = procs.cpu_seconds(self.pid)
        result = await self.measured(
            f"connect {plan.connect} members, 1 in {every} watching presence",
            self.connect(plan.connect, crowd=True, presenceEvery=every),
        )
        await asyncio.sleep(plan.presence_settle_seconds)
        delivered1 = (await self.gen.call("counters", limit=10))["presenceDeliveries"]
        result["presenceDeliveriesTotal"] = delivered1 - delivered0
        result["serverCpuSecondsWithSettle"] = procs.cpu_seconds(self.pid) - cpu0
        if not result["allSubscribed"]:
            self.notes.append(
                f"S7: {result['serverSubscriptions']:,} subscriptions counted, "
                f"{result['presenceWithoutState']:,} presence watchers without their state"
            )
        await self.close(0)
        return result

    async def over_sse(self, backlog: bool) -> dict[str, Any]:
        """S1 with graphql-sse streams: same server, tokens, document and mutations.

        The WebSockets are closed first, so the server holds only the streams.
        """
        size = self.plan.s1_subscribers
        await self.ensure(0, backlog)
        connected = await self.connect(size, "sse")
        if connected["failed"] or not connected["allSubscribed"]:
            self.notes.append(
                f"S1 over graphql-sse: {connected['open']:,} of {size:,} streams open,"
                f" {connected['withoutEvent']:,} without an event ({connected['failures']})"
            )
        await self.idle()
        result = await self.burst(self.plan.bursts[size], "graphql-sse")
        result["connect"] = connected
        await self.close(0)
        return result

    async def run_s1_s6(self) -> dict[str, Any]:
        """S1 and S6 alone (``--workers 2``): the figures the single process is compared on."""
        plan = self.plan
        out: dict[str, Any] = {}
        await self.gen.call("target", limit=30, **self.target.loadgen_target)
        await self.connect(plan.warmup_subscribers)
        await self.gen.call("burst", limit=60, events=plan.warmup_events, timeoutMs=30_000)
        await self.ensure(plan.s1_subscribers)
        out["S1"] = await self.burst(plan.bursts[plan.s1_subscribers])
        await self.ensure(0, backlog=not out["S1"]["complete"])
        out["S6"] = await self.mutations()
        await self.close(0)
        out["generatorCounters"] = await self.gen.call("counters", limit=10)
        out["notes"] = self.notes
        return out

    async def run(self, mutations: bool, sse: bool = False) -> dict[str, Any]:
        plan = self.plan
        out: dict[str, Any] = {}
        await self.gen.call("target", limit=30, **self.target.loadgen_target)
        await self.connect(plan.warmup_subscribers)
        await self.gen.call("burst", limit=60, events=plan.warmup_events, timeoutMs=30_000)
        await self.ensure(0)
        rss_before = procs.rss_kib(self.pid)
        out["S5"] = await self.measured(f"connect {plan.connect}", self.connect(plan.connect))
        if out["S5"]["failed"]:
            self.notes.append(
                f"S5: {out['S5']['failed']} connections failed ({out['S5']['failures']})"
            )
        if not out["S5"]["allSubscribed"]:
            self.notes.append(
                f"S5: {out['S5']['serverSubscriptions']:,} of {plan.connect:,} subscribed "
                f"within {plan.connect_timeout_seconds} s; later phases use what was open"
            )
        await self.idle(limit=120)
        rss_after = procs.rss_kib(self.pid)
        out["S3"] = {
            "sockets": self.open,
            "rssBeforeKiB": rss_before,
            "rssAfterKiB": rss_after,
            "kibPerSocket": (rss_after - rss_before) / max(1, self.open),
        }
        if self.target.loadgen_target.get("crowdTokens"):
            out["S7base"] = await self.crowd_storm()
            out["S7"] = await self.presence_storm()
        out["S4"] = {}
        backlog = False
        for size in sorted(plan.bursts, reverse=True):
            await self.ensure(size, backlog)
            burst = out["S4"][str(size)] = await self.burst(plan.bursts[size])
            backlog = not burst["complete"]
            if size == plan.s1_subscribers:
                await self.ensure(size, backlog)
                out["S2"] = await self.steady()
                backlog = not out["S2"]["complete"]
        out["S1"] = out["S4"][str(plan.s1_subscribers)]
        if sse:
            out["S1sse"] = await self.over_sse(backlog)
            backlog = False  # its streams are closed
        if mutations:
            await self.ensure(0, backlog)
            out["S6"] = await self.mutations()
        await self.close(0)
        out["generatorCounters"] = await self.gen.call("counters", limit=10)
        out["notes"] = self.notes
        return out


def _brief(result: dict[str, Any]) -> str:
    keys = (
        "subscribers",
        "delivered",
        "lost",
        "streamsIncomplete",
        "deliveriesPerSecond",
        "serverCpuUsPerDelivery",
        "serverCpuPercent",
        "generatorCpuPercent",
        "subscribedSeconds",
        "failed",
        "perSecond",
        "latencyMs",
        "otherLoadPercent",
    )
    return ", ".join(
        f"{k}={round(v, 1) if isinstance(v, float) else v}" for k, v in result.items() if k in keys
    )
