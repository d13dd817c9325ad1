"""Turn a run's results into the markdown table (with goals) and the chart.

Re-render from saved results: ``python bench/report.py bench/results/latest.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pgwaits
from targets import MEMBERS

PEERS = ("ceiling", "node")
TASKBELLS = ("taskbell_postgres", "taskbell_sqlite")
LABELS = {
    "ceiling": "ceiling",
    "node": "Node graphql-ws",
    "taskbell_postgres": "TaskBell PG+Redis",
    "taskbell_sqlite": "TaskBell SQLite+mem",
    "taskbell_postgres_w2": "TaskBell PG+Redis, 2 workers",
    "taskbell_baseline": "TaskBell PG+Redis at the baseline",
}
S7_GOAL = 1.3  # issue 11: S5 with presence within 1.3x of S5 without it
WORKERS = "taskbell_postgres_w2"
BASELINE = "taskbell_baseline"
BASELINE_S6_FLOOR = 0.9  # issue 12: S6 no more than 10% below the commit before
SSE = "S1sse"  # TaskBell PG+Redis's S1 burst again, over graphql-sse
SSE_LABEL = "TaskBell PG+Redis over graphql-sse"
SSE_GOAL = 0.8  # graphql-sse deliveries/s >= this x WebSocket's
LAG_LIMIT_MS = 100
GENERATOR_BUSY_PERCENT = 90  # above this share of its core, the generator may be the bottleneck
Getter = Callable[[dict[str, Any]], float | None]
Goal = tuple[str, str, bool | None]


def _get(*path: str) -> Getter:
    def get(target: dict[str, Any]) -> float | None:
        value: Any = target
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value) if isinstance(value, int | float) else None

    return get


def _metrics(results: dict[str, Any]) -> list[tuple[str, Getter, str]]:
    """(label, getter, format); ↑ higher is better, ↓ lower is better."""
    plan = results["plan"]
    s1 = plan["s1_subscribers"]
    rows: list[tuple[str, Getter, str]] = [
        (f"S1 deliveries/s ↑ ({s1} subs)", _get("S1", "deliveriesPerSecond"), "{:,.0f}"),
        ("S1 server CPU µs/delivery ↓", _get("S1", "serverCpuUsPerDelivery"), "{:,.1f}"),
        ("S2 delivery p50 ms ↓", _get("S2", "latencyMs", "p50"), "{:,.1f}"),
        ("S2 delivery p99 ms ↓", _get("S2", "latencyMs", "p99"), "{:,.1f}"),
        ("S2 trigger/mutation p99 ms ↓", _get("S2", "triggerRtt", "p99"), "{:,.1f}"),
        ("S2 lost deliveries ↓", _get("S2", "lost"), "{:,.0f}"),
        (f"S3 KiB per idle socket ↓ ({plan['connect']})", _get("S3", "kibPerSocket"), "{:,.1f}"),
    ]
    for size in sorted(int(s) for s in plan["bursts"]):
        rows.append(
            (f"S4 deliveries/s ↑ @{size}", _get("S4", str(size), "deliveriesPerSecond"), "{:,.0f}")
        )
    for size in sorted(int(s) for s in plan["bursts"]):
        rows.append(
            (
                f"S4 CPU µs/delivery ↓ @{size}",
                _get("S4", str(size), "serverCpuUsPerDelivery"),
                "{:,.1f}",
            )
        )
    rows += [
        (
            f"S5 s until all {plan['connect']} subscribed (each got an event) ↓",
            _get("S5", "subscribedSeconds"),
            "{:,.2f}",
        ),
        (
            "S5 s until the server counted them all ↓",
            _get("S5", "serverReportedSeconds"),
            "{:,.2f}",
        ),
        ("S5 server CPU ms per socket ↓", _get("S5", "serverCpuMsPerSocket"), "{:,.2f}"),
        (
            f"S7 s until all {plan['connect']} members subscribed, nobody watching presence ↓",
            _get("S7base", "subscribedSeconds"),
            "{:,.2f}",
        ),
        (
            f"S7 s until all {plan['connect']} members subscribed,"
            f" 1 in {plan.get('presence_every', 5)} also to presenceChanged ↓",
            _get("S7", "subscribedSeconds"),
            "{:,.2f}",
        ),
        ("S7 server CPU ms per socket ↓", _get("S7", "serverCpuMsPerSocket"), "{:,.2f}"),
        ("S7 presence deliveries ↓", _get("S7", "presenceDeliveriesTotal"), "{:,.0f}"),
        (
            f"S6 mutations/s ↑ ({plan['mutation_clients']} clients)",
            _get("S6", "perSecond"),
            "{:,.0f}",
        ),
        ("S6 mutation p99 ms ↓", _get("S6", "latencyMs", "p99"), "{:,.1f}"),
    ]
    return rows


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def _ratio(value: float | None, peer: float | None) -> str:
    if value is None or peer is None or peer == 0:
        return "—"
    ratio = value / peer
    return f"x{ratio:,.0f}" if ratio >= 100 else f"x{ratio:.3g}"


def _targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: results["targets"].get(name, {}) for name in (*PEERS, *TASKBELLS)}


def _table(results: dict[str, Any]) -> list[str]:
    t = _targets(results)
    head = ["metric", LABELS["ceiling"], LABELS["node"]]
    for name in TASKBELLS:
        head += [LABELS[name], "÷ ceiling", "÷ Node"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, get, fmt in _metrics(results):
        ceiling, node = get(t["ceiling"]), get(t["node"])
        row = [label, _cell(ceiling, fmt), _cell(node, fmt)]
        for name in TASKBELLS:
            value = get(t[name])
            row += [_cell(value, fmt), _ratio(value, ceiling), _ratio(value, node)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _at_least(text: str, value: float | None, reference: float | None, factor: float) -> Goal:
    """value >= factor x reference, shown as the ratio value / reference."""
    if value is None or not reference:
        return text, "—", None
    return text, f"x{value / reference:.3g}", value >= factor * reference


def _at_most(text: str, value: float | None, limit: float | None, spec: str) -> Goal:
    if value is None or limit is None:
        return text, _cell(value, spec), None
    return text, spec.format(value), value <= limit


def _sse_goal(tb: dict[str, Any]) -> Goal:
    """graphql-sse at SSE_GOAL x WebSocket's S1 rate or more, and every event on every stream."""
    text = f"S1 graphql-sse >= {SSE_GOAL} x WebSocket deliveries/s, none lost"
    sse = tb.get(SSE)
    goal = _at_least(
        text, _get(SSE, "deliveriesPerSecond")(tb), _get("S1", "deliveriesPerSecond")(tb), SSE_GOAL
    )
    if sse is None or goal[2] is None:
        return goal
    missing = sse["lost"] + sse.get("streamsIncomplete", 0)
    shown = goal[1] if not missing else f"{goal[1]} ({sse['lost']:,} lost)"
    return text, shown, goal[2] and missing == 0


def _goals(results: dict[str, Any], tb: dict[str, Any], peers: dict[str, Any]) -> list[Goal]:
    """(goal, measured, pass) for one TaskBell variant; pass None = not measured."""
    plan = results["plan"]
    rate = _get("S1", "deliveriesPerSecond")
    kib = _get("S3", "kibPerSocket")
    cpu = {int(s): _get("S4", str(s), "serverCpuUsPerDelivery")(tb) for s in plan["bursts"]}
    top, s1 = max(cpu), plan["s1_subscribers"]
    s5 = _get("S5", "subscribedSeconds")(tb)
    s5_all = bool(tb.get("S5", {}).get("allSubscribed"))
    cpu_top, cpu_s1 = cpu[top], cpu[s1]
    cpu_ratio = cpu_top / cpu_s1 if cpu_top is not None and cpu_s1 else None
    node_kib = kib(peers["node"])
    s6 = _get("S6", "perSecond")(tb)
    return [
        _at_least("S1 >= 0.5 x ceiling deliveries/s", rate(tb), rate(peers["ceiling"]), 0.5),
        _at_least("S1 >= 1.5 x Node graphql-ws deliveries/s", rate(tb), rate(peers["node"]), 1.5),
        _sse_goal(tb),
        _at_most("S2 0 lost", _get("S2", "lost")(tb), 0, "{:,.0f}"),
        _at_most("S2 delivery p99 <= 50 ms", _get("S2", "latencyMs", "p99")(tb), 50, "{:,.1f} ms"),
        _at_most("S2 mutation p99 <= 50 ms", _get("S2", "triggerRtt", "p99")(tb), 50, "{:,.1f} ms"),
        _at_most(
            f"S3 KiB/socket <= Node's ({_cell(node_kib, '{:,.1f}')})", kib(tb), node_kib, "{:,.1f}"
        ),
        _at_most(f"S4 CPU/delivery @{top} <= 1.2 x @{s1}", cpu_ratio, 1.2, "x{:.3g}"),
        (
            f"S5 {plan['connect']:,} subscribed in <= 5 s",
            _cell(s5, "{:,.2f} s") + ("" if s5_all or s5 is None else " (not all)"),
            None if s5 is None else s5_all and s5 <= 5,
        ),
        _s7_goal(tb),
        (
            "S6 >= 1,000 mutations/s (aim; PG only)",
            _cell(s6, "{:,.0f}/s"),
            None if s6 is None else s6 >= 1000,
        ),
        _at_most(
            "S6 mutation p99 <= 100 ms (aim; PG only)",
            _get("S6", "latencyMs", "p99")(tb),
            None if s6 is None else 100,
            "{:,.0f} ms",
        ),
    ]


def _s7_goal(tb: dict[str, Any]) -> Goal:
    """The storm with presence watchers (S7) within S7_GOAL x the same storm without them."""
    s5, s7 = _get("S7base", "subscribedSeconds")(tb), _get("S7", "subscribedSeconds")(tb)
    text = f"S7 storm with presence watchers <= {S7_GOAL} x without them"
    if s5 is None or s7 is None or not s5:
        return text, "—", None
    complete = bool(tb.get("S7", {}).get("allSubscribed"))
    shown = f"x{s7 / s5:.3g}" + ("" if complete else " (not all)")
    return text, shown, complete and s7 <= S7_GOAL * s5


def _mark(ok: bool | None) -> str:
    return {True: "pass", False: "**miss**", None: "—"}[ok]


def _goal_table(results: dict[str, Any]) -> list[str]:
    t = _targets(results)
    peers = {name: t[name] for name in PEERS}
    per_variant = {name: _goals(results, t[name], peers) for name in TASKBELLS}
    head = ["goal"] + [part for name in TASKBELLS for part in (LABELS[name], "")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, (goal, _value, _ok) in enumerate(per_variant[TASKBELLS[0]]):
        row = [goal]
        for name in TASKBELLS:
            _goal, value, ok = per_variant[name][i]
            row += [value, _mark(ok)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _per_delivery(burst: dict[str, Any], seconds_key: str) -> float | None:
    seconds, delivered = _get(seconds_key)(burst), burst.get("delivered")
    return seconds * 1e6 / delivered if seconds is not None and delivered else None


def _sse_section(results: dict[str, Any]) -> list[str]:
    """TaskBell PG+Redis's S1 over WebSocket and over graphql-sse, side by side."""
    tb = results["targets"].get("taskbell_postgres", {})
    ws, sse = tb.get("S1"), tb.get(SSE)
    if ws is None or sse is None:
        why = tb.get("skipped") or tb.get("failed") or "no graphql-sse phase in these results"
        return [f"Not measured in this run: {why}."]
    lines = [
        "The same server, tokens, subscription document and `updateTaskStatus` triggers as its"
        " WebSocket S1 row; the graphql-sse streams (`POST /graphql`, `Accept: text/event-stream`,"
        " one connection each) are opened after every WebSocket phase, with the WebSockets closed."
        " *Streams missing an event*: streams that did not get every event exactly once.",
        "",
        f"| S1: {ws['subscribers']:,} subscribers, {ws['events']:,} events | delivered / expected"
        " | lost | streams missing an event | deliveries/s ↑ | server CPU µs/delivery ↓ |"
        " generator CPU % of core 1 | generator µs CPU per delivery | message bytes |"
        " deliveries/s ÷ WebSocket ↑ | CPU/delivery ÷ WebSocket ↓ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rate, cpu = _get("deliveriesPerSecond"), _get("serverCpuUsPerDelivery")
    for label, burst in ((f"{LABELS['taskbell_postgres']} (WebSocket)", ws), (SSE_LABEL, sse)):
        ratios = (
            ["", ""] if burst is ws else [_ratio(rate(sse), rate(ws)), _ratio(cpu(sse), cpu(ws))]
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    label,
                    f"{burst['delivered']:,} / {burst['expected']:,}",
                    f"{burst['lost']:,}",
                    _cell(_get("streamsIncomplete")(burst), "{:,.0f}"),
                    _cell(rate(burst), "{:,.0f}"),
                    _cell(cpu(burst), "{:,.1f}"),
                    _cell(_get("generatorCpuPercent")(burst), "{:.0f}%"),
                    _cell(_per_delivery(burst, "generatorCpuSeconds"), "{:.1f}"),
                    _cell(_get("avgFrameBytes")(burst), "~{:,.0f}"),
                    *ratios,
                ]
            )
            + " |"
        )
    busy = _get("generatorCpuPercent")(sse)
    verdict = (
        f"The generator used {busy:.0f}% of its core during the graphql-sse burst: it was"
        " waiting for the server, not the other way round."
        if busy is not None and busy < GENERATOR_BUSY_PERCENT
        else f"**The generator used {_cell(busy, '{:.0f}')}% of its core** during the graphql-sse"
        " burst: it may have held the figure down."
    )
    lines += [
        "",
        verdict,
        "",
        "Message bytes: the WebSocket message's payload; for graphql-sse the whole SSE message"
        " (`event:`, `id:` and `data:` lines) without the chunked coding around it.",
    ]
    return lines


def _presence_section(results: dict[str, Any]) -> list[str]:
    """S7 beside S5 for each TaskBell variant: time, CPU, and what presence delivered."""
    plan = results["plan"]
    lines = [
        f"S5's storm again, as {plan['connect']:,} distinct members of one project (S5 uses the"
        f" benchmark's 10 users), one socket in {plan.get('presence_every', 5)} also subscribed"
        " to `presenceChanged`. Deliveries are counted until"
        f" {plan.get('presence_settle_seconds', 3)} s after the last socket is subscribed; a"
        " design that sent every join to every watcher would deliver members x watchers.",
        "",
        "The goal compares the storm with watchers to the same storm (same members, same"
        " tokens) without them; S5 is shown too.",
        "",
        "| variant | S5 s ↓ | storm, no watchers s ↓ | S7 storm with watchers s ↓ |"
        " S7 ÷ no watchers ↓ | S7 ÷ S5 ↓ | CPU ms/socket: S5 / no watchers / S7 |"
        " watchers | presence deliveries | members x watchers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in TASKBELLS:
        tb = results["targets"].get(name, {})
        s5, base, s7 = tb.get("S5"), tb.get("S7base"), tb.get("S7")
        if not s5 or not base or not s7:
            lines.append(f"| {LABELS[name]} | not measured |" + "  |" * 8)
            continue
        watchers = s7.get("presenceSubscribers", 0)
        seconds, cpu = _get("subscribedSeconds"), _get("serverCpuMsPerSocket")
        cells = [
            LABELS[name],
            _cell(seconds(s5), "{:,.2f}"),
            _cell(seconds(base), "{:,.2f}"),
            _cell(seconds(s7), "{:,.2f}"),
            _ratio(seconds(s7), seconds(base)),
            _ratio(seconds(s7), seconds(s5)),
            " / ".join(_cell(cpu(phase), "{:,.2f}") for phase in (s5, base, s7)),
            f"{watchers:,}",
            _cell(s7.get("presenceDeliveriesTotal"), "{:,.0f}"),
            f"{watchers * s7.get('open', 0):,}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _generator_evidence(results: dict[str, Any]) -> list[str]:
    """The ceiling bursts: the generator kept pace with the fastest sender, with CPU to spare."""
    ceiling = results["targets"].get("ceiling", {})
    bursts = ceiling.get("S4", {})
    kept_up = bool(bursts) and all(
        b["complete"]
        and b["lost"] == 0
        and b.get("lastReceiveEpochMs") is not None
        and b.get("peerLastSendEpochMs") is not None
        and b["lastReceiveEpochMs"] - b["peerLastSendEpochMs"] < LAG_LIMIT_MS
        for b in bursts.values()
    )
    verdict = (
        "**Holds in this run.**"
        if kept_up
        else "**Not shown in this run** (see the table): treat the peers' figures as lower bounds."
    )
    lines = [
        f"{verdict} Criterion: in every ceiling burst the generator received every frame and"
        f" its last frame arrived less than {LAG_LIMIT_MS} ms after the ceiling's last write."
        " The ceiling never waits for its readers (`broadcast` only queues), so a generator"
        " slower than the ceiling would fall further behind with every event and finish late;"
        " finishing with the ceiling means receiving as fast as the ceiling sends."
        " The CPU columns show the headroom left: the generator's CPU time per frame, and the"
        " rate that would fill its core.",
        "",
        "| ceiling burst | delivered | ceiling wrote /s (its clock) | generator received /s | "
        "last frame after ceiling's last write | ceiling CPU % of core 0 | "
        "generator CPU % of core 1 | generator µs CPU per frame | "
        "generator capacity /s at 100% of its core | capacity ÷ ceiling rate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, burst in sorted(ceiling.get("S4", {}).items(), key=lambda kv: int(kv[0])):
        seconds = burst.get("peerSendSeconds")
        sent_rate = burst["peerSent"] / seconds if seconds else None
        gen_cpu = burst.get("generatorCpuSeconds")
        per_frame = gen_cpu * 1e6 / burst["delivered"] if gen_cpu and burst["delivered"] else None
        capacity = 1e6 / per_frame if per_frame else None
        lag = (
            burst["lastReceiveEpochMs"] - burst["peerLastSendEpochMs"]
            if burst.get("lastReceiveEpochMs") and burst.get("peerLastSendEpochMs")
            else None
        )
        lines.append(
            f"| {int(size):,} subs | {burst['delivered']:,} | {_cell(sent_rate, '{:,.0f}')} | "
            f"{_cell(burst.get('generatorReceiveRate'), '{:,.0f}')} | {_cell(lag, '{:,.1f} ms')} | "
            f"{burst['serverCpuPercent']:.0f}% | {burst['generatorCpuPercent']:.0f}% | "
            f"{_cell(per_frame, '{:.1f}')} | {_cell(capacity, '{:,.0f}')} | "
            f"{_ratio(capacity, sent_rate)} |"
        )
    return lines


def _server_events(target: dict[str, Any]) -> str:
    """TaskBell's own counters of unusual work (log replays, failed publishes...), if any."""
    phases = [target.get(k, {}) for k in ("S5", "S2", SSE, "S6")]
    phases += list(target.get("S4", {}).values())
    totals: dict[str, float] = {}
    for phase in phases:
        for name, value in phase.get("serverCounters", {}).items():
            if any(word in name for word in ("replay", "fail", "slow", "resync", "error")):
                totals[name] = totals.get(name, 0) + value
    if not totals:
        return ""
    return "server counted " + ", ".join(f"{v:,.0f} {k}" for k, v in sorted(totals.items())) + "; "


def _workers_section(results: dict[str, Any]) -> list[str]:
    """S1 and S6 of ``serve --workers 2`` on both cores, beside the one process on core 0."""
    one = results["targets"].get("taskbell_postgres", {})
    two = results["targets"].get(WORKERS)
    if two is None or "S1" not in two:
        why = (two or {}).get("skipped") or (two or {}).get("failed") or "not in this run"
        return [f"Not measured in this run: {why}."]
    rows = [
        ("S1 deliveries/s ↑", _get("S1", "deliveriesPerSecond"), "{:,.0f}"),
        ("S1 server CPU µs/delivery ↓", _get("S1", "serverCpuUsPerDelivery"), "{:,.1f}"),
        ("S1 generator CPU % of its core", _get("S1", "generatorCpuPercent"), "{:.0f}%"),
        ("S6 mutations/s ↑", _get("S6", "perSecond"), "{:,.0f}"),
        ("S6 mutation p99 ms ↓", _get("S6", "latencyMs", "p99"), "{:,.1f}"),
        ("S6 server CPU µs/mutation ↓", _get("S6", "serverCpuUsPerMutation"), "{:,.0f}"),
    ]
    lines = [
        "`taskbell serve --workers 2` on PostgreSQL + Redis, its workers on both cores (the load"
        " generator shares core 1 with one of them), beside the single process on core 0 of"
        " the table above; same plan, same run. CPU is summed over the parent and every worker.",
        "",
        "| metric | 1 process (core 0) | 2 workers (cores 0-1) | 2 workers ÷ 1 |",
        "|---|---|---|---|",
    ]
    for label, get, fmt in rows:
        a, b = get(one), get(two)
        lines.append(f"| {label} | {_cell(a, fmt)} | {_cell(b, fmt)} | {_ratio(b, a)} |")
    return lines


def _share(percent: dict[str, float], *kinds: str) -> str:
    """The summed share of some ``pgwaits`` kinds, "—" when nothing was sampled."""
    return f"{sum(percent[kind] for kind in kinds):.0f}%" if percent else "—"


def _s6_section(results: dict[str, Any]) -> list[str]:
    """S6 with what bounds it: the server's CPU per mutation, and what PostgreSQL waited on."""
    plan = results["plan"]
    measured = [
        (LABELS[name], results["targets"][name])
        for name in ("taskbell_postgres", WORKERS)
        if "S6" in results["targets"].get(name, {})
    ]
    if not measured:
        return ["Not measured in this run."]
    lines = [
        f"{plan['mutation_clients']} clients each move their own task through the statuses"
        f" as fast as they are answered. The S6 projects all have the benchmark's {MEMBERS} users"
        f" as members, so every change notifies {MEMBERS - 1} of them and holds those users'"
        " rows locked until it commits (each member's notification positions are handed out"
        " in commit order). Meanwhile the driver sampled `pg_stat_activity` every"
        f" {pgwaits.INTERVAL * 1000:.0f} ms: of the server's connections with a transaction"
        " open, the share waiting for another transaction's row lock, the share idle in"
        " transaction (their statement answered, waiting for TaskBell's next statement or"
        " COMMIT) and the share running in PostgreSQL.",
        "",
        "| target | mutations/s ↑ | p50 ms | p99 ms | server CPU µs/mutation | server CPU %"
        " | one core's worth at that CPU /s | open transactions (mean) | waiting on a row lock"
        " | idle in transaction | running | other (LWLock, IO) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, target in measured:
        s6 = target["S6"]
        cpu = _get("serverCpuUsPerMutation")(s6)
        waits = s6.get("postgresWaits", {})
        share = waits.get("percent", {})
        lines.append(
            f"| {label} | {_cell(_get('perSecond')(s6), '{:,.0f}')}"
            f" | {_cell(_get('latencyMs', 'p50')(s6), '{:,.0f}')}"
            f" | {_cell(_get('latencyMs', 'p99')(s6), '{:,.0f}')}"
            f" | {_cell(cpu, '{:,.0f}')} | {_cell(_get('serverCpuPercent')(s6), '{:.0f}%')}"
            f" | {_cell(1e6 / cpu if cpu else None, '{:,.0f}')}"
            f" | {_cell(_get('meanOpenTransactions')(waits), '{:.1f}')}"
            f" | {_share(share, 'rowLock')} | {_share(share, 'idleInTransaction')}"
            f" | {_share(share, 'running')} | {_share(share, 'lwLock', 'io')} |"
        )
        if "error" in waits:
            lines.append(f"\n{label}: sampling PostgreSQL failed ({waits['error']}).")
    return lines


def _baseline_section(results: dict[str, Any]) -> list[str]:
    """Every figure of this commit beside the ``--baseline`` commit's, same run."""
    base = results["targets"].get(BASELINE)
    if base is None:
        return ["No baseline in this run (`bench/run.py --baseline REF` adds one)."]
    info = results.get("baseline", {})
    if "skipped" in base or "failed" in base:
        why = base.get("skipped") or base.get("failed")
        return [f"Baseline {info.get('label', '')}: **{why}**"]
    now = results["targets"].get("taskbell_postgres", {})
    lines = [
        f"TaskBell PG+Redis at this commit and at {info.get('label', 'the baseline')}, built"
        " from its own worktree and venv, run one after the other in this run.",
        "",
        "| metric | this commit | baseline | this ÷ baseline |",
        "|---|---|---|---|",
    ]
    for label, get, fmt in _metrics(results):
        a, b = get(now), get(base)
        lines.append(f"| {label} | {_cell(a, fmt)} | {_cell(b, fmt)} | {_ratio(a, b)} |")
    goal = _at_least(
        f"S6 mutations/s >= {BASELINE_S6_FLOOR} x the baseline's",
        _get("S6", "perSecond")(now),
        _get("S6", "perSecond")(base),
        BASELINE_S6_FLOOR,
    )
    lines += ["", f"Goal: {goal[0]}: {goal[1]}, {_mark(goal[2])}."]
    return lines


def markdown(results: dict[str, Any]) -> str:
    env, plan = results["environment"], results["plan"]
    out = [
        f"# TaskBell benchmark ({plan['name']} run)",
        "",
        f"{env['date']} · commit {env['commit']} · Python {env['python']} · Node {env['node']}"
        f" · {env['cpus']} cores · servers on core 0, load generator on core 1"
        f" · {env.get('priority', 'normal priority')} · run took {results.get('seconds', 0):.0f} s",
        "",
        "Ratios are TaskBell ÷ peer measured in this same run."
        " ↑ marks rows where higher is better, ↓ where lower is better.",
        "",
        *_table(results),
        "",
        "## Goals",
        "",
        *_goal_table(results),
        "",
        "## S1 over graphql-sse",
        "",
        *_sse_section(results),
        "",
        "## S7: a connect storm with presence",
        "",
        *_presence_section(results),
        "",
        "## Two workers on two cores",
        "",
        *_workers_section(results),
        "",
        "## S6: what bounds a mutation",
        "",
        *_s6_section(results),
        "",
        "## Against the baseline",
        "",
        *_baseline_section(results),
        "",
        "## The load generator is not the bottleneck",
        "",
        *_generator_evidence(results),
        "",
        "## Conditions",
        "",
    ]
    for name, target in results["targets"].items():
        if "skipped" in target or "failed" in target:
            out.append(
                f"- {target.get('label') or LABELS.get(name, name)}:"
                f" **{target.get('skipped') or target.get('failed')}**"
            )
            continue
        frame = _get("S1", "avgFrameBytes")(target)
        loads = [
            phase.get("otherLoadPercent", {})
            for phase in [
                target.get("S5", {}),
                target.get("S2", {}),
                target.get(SSE, {}),
                *target.get("S4", {}).values(),
            ]
        ]
        worst = (
            max((load.get("core0", 0) for load in loads), default=0),
            max((load.get("core1", 0) for load in loads), default=0),
        )
        out.append(
            f"- {target.get('label') or LABELS.get(name, name)}: frames"
            f" ~{_cell(frame, '{:,.0f}')} bytes; other processes used"
            f" at most {worst[0]:.0f}% of core 0 (the server's) and {worst[1]:.0f}% of core 1"
            f" in a measured phase; {_server_events(target)}"
            f"{'; '.join(target.get('notes', [])) or 'no notes'}"
        )
    out.append("")
    return "\n".join(out)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = _targets(results)
    names = [n for n in (*PEERS, *TASKBELLS) if "S1" in t[n]]
    colors = {
        "ceiling": "#888888",
        "node": "#3c873a",
        "taskbell_postgres": "#c2410c",
        "taskbell_sqlite": "#2563eb",
        SSE: "#f59e0b",
    }
    labels = {**LABELS, SSE: "TaskBell PG+Redis SSE"}
    # The S1 panels get a bar for the graphql-sse burst, read as if it were a target's S1.
    s1_names = list(names)
    if SSE in t["taskbell_postgres"]:
        t[SSE] = {"S1": t["taskbell_postgres"][SSE]}
        s1_names.insert(names.index("taskbell_postgres") + 1, SSE)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    plan = results["plan"]

    def bars(ax: Any, get: Getter, title: str, log: bool = True, among: list[str] = names) -> None:
        values = [get(t[n]) or 0 for n in among]
        ax.bar([labels[n] for n in among], values, color=[colors[n] for n in among])
        ax.set_title(title, fontsize=10)
        if log and any(values):
            ax.set_yscale("log")
            # Bars on a log axis start at its bottom: put it well below the smallest value.
            ax.set_ylim(bottom=min(v for v in values if v > 0) / 5)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        for x, v in enumerate(values):
            text = f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
            ax.annotate(text, (x, v), ha="center", va="bottom", fontsize=8)

    bars(
        axes[0][0],
        _get("S1", "deliveriesPerSecond"),
        f"S1 deliveries/s ↑ ({plan['s1_subscribers']} subs)",
        log=False,
        among=s1_names,
    )
    bars(
        axes[0][1],
        _get("S1", "serverCpuUsPerDelivery"),
        "S1 server CPU µs per delivery ↓",
        log=False,
        among=s1_names,
    )
    bars(axes[0][2], _get("S2", "latencyMs", "p99"), "S2 delivery latency p99, ms ↓")
    bars(
        axes[1][0],
        _get("S3", "kibPerSocket"),
        f"S3 KiB per idle socket ↓ ({plan['connect']})",
        log=False,
    )
    ax = axes[1][1]
    sizes = sorted(int(s) for s in plan["bursts"])
    for n in names:
        values = [_get("S4", str(s), "deliveriesPerSecond")(t[n]) for s in sizes]
        ax.plot(
            sizes, [v or float("nan") for v in values], marker="o", color=colors[n], label=labels[n]
        )
    ax.set(
        xscale="log", yscale="log", title="S4 deliveries/s by subscribers ↑", xlabel="subscribers"
    )
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8)
    bars(
        axes[1][2],
        _get("S5", "subscribedSeconds"),
        f"S5 seconds until {plan['connect']:,} subscribed ↓",
        log=False,
    )
    s6 = _get("S6", "perSecond")(t["taskbell_postgres"])
    subtitle = f" · S6 TaskBell PG: {s6:,.0f} mutations/s" if s6 else ""
    fig.suptitle(f"TaskBell benchmark ({plan['name']}, {results['environment']['date']}){subtitle}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    import json
    import sys

    source = Path(sys.argv[1])
    saved = json.loads(source.read_text())
    source.with_suffix(".md").write_text(markdown(saved))
    chart(saved, source.with_suffix(".png"))
