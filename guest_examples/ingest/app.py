"""External event ingestion: a meter agent that suspends until a sensor signals.

``MeterAgent("m1").watch(count, threshold, silence_seconds)`` creates a promise for the
next event and awaits it; the sensor (a payment gateway, a third-party API...) finds the
pending promise (``agent-host promise list``, or the REST API's
``GET /v1/components/{id}/workers/{agent-id}/promises``) and completes it with a JSON
reading. Between events the agent is durably suspended: no instance is held, and a host
restart in between loses nothing. Each wait races a durable timer (``asyncio.wait_for``):
when no event arrives within ``silence_seconds`` the meter counts a silence and keeps
waiting on the same promise. Payloads that are not readings are kept as rejected (the
SDK's decode error) instead of failing the agent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent_sdk import PromiseDecodeError, agent, await_promise_json, create_promise, endpoint


@dataclass(frozen=True)
class Reading:
    """One event from a sensor: the payload of a promise."""

    value: float
    sensor: str = "sensor"


@dataclass
class Summary:
    """What the meter has seen so far."""

    readings: int
    mean: float | None
    min: float | None
    max: float | None
    alerts: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    silences: int = 0


@agent(mount="/sensors/{name}")
class MeterAgent:
    """A meter aggregating sensor readings, one promise per event."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.values: list[float] = []
        self.alerts: list[str] = []
        self.rejected: list[str] = []
        self.silences = 0

    @endpoint(post="/watch")
    async def watch(self, count: int, threshold: float, silence_seconds: float) -> Summary:
        """Wait for ``count`` readings, one promise at a time (suspended between events,
        across host restarts too), counting a silence each time none arrives within
        ``silence_seconds`` (0: no limit); returns the summary."""
        accepted = 0
        while accepted < count:
            promise = create_promise()
            print(f"Meter {self.name}: waiting for an event on promise {promise.oplog_idx}")
            while True:
                try:
                    waiting = await_promise_json(promise, Reading)
                    if silence_seconds > 0:
                        reading = await asyncio.wait_for(waiting, silence_seconds)
                    else:
                        reading = await waiting
                except TimeoutError:
                    self.silences += 1
                    continue  # the same promise: the event may still come
                except PromiseDecodeError as exc:
                    self.rejected.append(exc.reason)
                    break  # that promise is spent; the next event gets a new one
                self.values.append(reading.value)
                accepted += 1
                if reading.value > threshold:
                    n = len(self.values)
                    self.alerts.append(
                        f"reading {n} from {reading.sensor}: {reading.value:g} > {threshold:g}"
                    )
                break
        return self.summary()

    @endpoint(get="/summary")
    def summary(self) -> Summary:
        """The summary so far (after or between watches)."""
        values = self.values
        return Summary(
            readings=len(values),
            mean=sum(values) / len(values) if values else None,
            min=min(values) if values else None,
            max=max(values) if values else None,
            alerts=list(self.alerts),
            rejected=list(self.rejected),
            silences=self.silences,
        )
