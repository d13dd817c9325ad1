"""What a run measures: sizes, rates and time bounds for the full run and for ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    connect: int  # S5 and S3: sockets opened, authenticated and subscribed
    s1_subscribers: int
    # S4: subscribers -> events in the burst. Above S1's size the event count
    # shrinks so every burst is about the same number of deliveries (bounded run
    # time); per-delivery figures do not depend on it.
    bursts: dict[int, int]
    steady_rate: int  # S2: events per second ...
    steady_seconds: int  # ... for this long, at s1_subscribers
    steady_grace_seconds: int  # deliveries later than last send + this count as lost
    mutation_clients: int  # S6
    mutation_seconds: int
    burst_timeout_seconds: int  # a burst is cut off here; what did not arrive counts as lost
    connect_timeout_seconds: int
    connect_concurrency: int = 200  # handshakes in flight at once
    trigger_inflight: int = 4  # burst triggers in flight at once
    warmup_subscribers: int = 50
    warmup_events: int = 20
    quiet_wait_seconds: int = 30  # before each target, wait this long at most for a quiet machine
    presence_every: int = 5  # S7: one socket in this many also watches presence (1,000 of 5,000)
    presence_settle_seconds: int = 3  # S7: presence diffs still counted this long afterwards


FULL = Plan(
    name="full",
    connect=5000,
    s1_subscribers=1000,
    bursts={5000: 40, 1000: 200, 100: 500},
    steady_rate=20,
    steady_seconds=10,
    steady_grace_seconds=10,
    mutation_clients=50,
    mutation_seconds=10,
    burst_timeout_seconds=30,
    connect_timeout_seconds=180,
)

QUICK = Plan(
    name="quick",
    connect=200,
    s1_subscribers=100,
    bursts={200: 10, 100: 20},
    steady_rate=10,
    steady_seconds=2,
    steady_grace_seconds=3,
    mutation_clients=50,
    mutation_seconds=2,
    burst_timeout_seconds=15,
    connect_timeout_seconds=30,
    warmup_subscribers=10,
    warmup_events=5,
    quiet_wait_seconds=0,
)
