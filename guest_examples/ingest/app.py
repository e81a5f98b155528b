"""External event ingestion: a meter that suspends until a sensor signals.

``watch(count, threshold, silence-seconds)`` creates a promise for the next event and
awaits it; the sensor (a payment gateway, a third-party API...) finds the pending promise
through agent-host's REST API (``GET /v1/components/{id}/workers/{name}/promises``) and
completes it with a JSON reading (``POST .../complete``). Between events the agent is
durably suspended: no instance is held, and a host restart in between loses nothing.
Each wait races a durable timer (``asyncio.wait_for``): when no event arrives within
``silence-seconds`` the meter counts a silence and keeps waiting on the same promise.
Payloads that are not readings are kept as rejected (the SDK's decode error) instead of
failing the agent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import wit_world
from agent_host_sdk import (
    PromiseDecodeError,
    agent,
    await_promise_json,
    create_promise,
    get,
    post,
    run,
)


@dataclass(frozen=True)
class Reading:
    """One event from a sensor: the payload of a promise."""

    value: float
    sensor: str = "sensor"


@dataclass
class _Meter:
    values: list[float] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    silences: int = 0

    def summary(self) -> wit_world.Summary:
        values = self.values
        return wit_world.Summary(
            readings=len(values),
            mean=sum(values) / len(values) if values else None,
            min=min(values) if values else None,
            max=max(values) if values else None,
            alerts=list(self.alerts),
            rejected=list(self.rejected),
            silences=self.silences,
        )


# The meter lives in the agent's memory; replay rebuilds it after a suspension or restart.
_meter = _Meter()


async def _watch(count: int, threshold: float, silence_s: float) -> None:
    accepted = 0
    while accepted < count:
        promise = create_promise()
        while True:
            try:
                if silence_s > 0:
                    reading = await asyncio.wait_for(
                        await_promise_json(promise, Reading), silence_s
                    )
                else:
                    reading = await await_promise_json(promise, Reading)
            except TimeoutError:
                _meter.silences += 1
                continue  # the same promise: the event may still come
            except PromiseDecodeError as exc:
                _meter.rejected.append(exc.reason)
                break  # that promise is spent; the next event gets a new one
            _meter.values.append(reading.value)
            accepted += 1
            if reading.value > threshold:
                n = len(_meter.values)
                _meter.alerts.append(
                    f"reading {n} from {reading.sensor}: {reading.value:g} > {threshold:g}"
                )
            break


@agent(mount="/sensors/{name}", agent_type="meter")
class WitWorld(wit_world.WitWorld):
    @post("/watch")
    def watch(self, count: int, threshold: float, silence_seconds: float) -> wit_world.Summary:
        run(_watch(count, threshold, silence_seconds))
        return _meter.summary()

    @get("/summary")
    def summary(self) -> wit_world.Summary:
        return _meter.summary()
