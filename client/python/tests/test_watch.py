"""Client.watch against a real gateway: cursor order, resuming from a cursor,
and following the inbox across gateway restarts without gaps or duplicates."""

from __future__ import annotations

from typing import List

import grpc
import pytest

import harness
import havengate
from havengate.v1 import ingest_pb2


def take(watch: havengate.Watch, count: int, timeout: float = 30.0) -> List:
    """The next ``count`` events, failing if they do not all arrive in time."""
    events = []

    def got_all() -> bool:
        event = watch.get(timeout=0.2)
        if event is not None:
            events.append(event)
        return len(events) >= count

    harness.wait_for(got_all, timeout, f"{count} inbox events (got {len(events)})")
    return events


def test_watch_follows_the_inbox_in_cursor_order(client: havengate.Client) -> None:
    first = client.push(harness.alert("w-0"))
    with client.watch() as watch:
        [event] = take(watch, 1)
        assert event.cursor == first.cursor == event.entry.cursor
        assert event.entry.item.item_id == "w-0"
        assert watch.cursor == first.cursor

        client.push(harness.alert("w-1"))
        client.retract("w-0", "entered in error")
        client.push(harness.alert("w-2"))
        events = take(watch, 3)
        assert [e.cursor for e in events] == [2, 3, 4]
        assert events[0].entry.item.item_id == "w-1"
        assert events[1].WhichOneof("event") == "retraction"
        assert (events[1].retraction.item_id, events[1].retraction.reason,
                events[1].retraction.kind) == ("w-0", "entered in error",
                                               ingest_pb2.Retraction.RETRACTED_BY_ORIGIN)
        assert events[2].entry.item.item_id == "w-2"
        assert watch.cursor == 4
        assert watch.get(timeout=0.3) is None  # nothing more
    with pytest.raises(StopIteration):
        next(watch)


def test_watch_resumes_after_a_cursor_and_filters(client: havengate.Client) -> None:
    receipts = [client.push(harness.alert(f"r-{i}")) for i in range(4)]
    client.push({"item_id": "report-1", "classification": {"tlp": "GREEN"},
                 "report": {"title": "Insider recruitment at the terminals"}})
    with client.watch(after_cursor=receipts[1].cursor) as watch:
        events = take(watch, 3)
        assert [e.entry.item.item_id for e in events] == ["r-2", "r-3", "report-1"]
    with client.watch(after_cursor=0, filter={"kind": "report"}) as watch:
        [event] = take(watch, 1)
        assert event.entry.item.item_id == "report-1"
        assert watch.get(timeout=0.3) is None


@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_watch_continues_across_gateway_restarts_without_gaps_or_duplicates(
        police: harness.Org, gateway: harness.Gateway, client: havengate.Client, stop: str) -> None:
    reconnect_errors: List[havengate.HavengateError] = []
    pushed: List[str] = []
    # A feed that rides out the restart: its pushes wait for the gateway.
    feed = havengate.Client(police.options(gateway.port), wait_for_ready=True)

    def push(n: int) -> None:
        for _ in range(n):
            item_id = f"restart-{len(pushed):02d}"
            feed.push(harness.alert(item_id))
            pushed.append(item_id)

    with client.watch(on_reconnect=reconnect_errors.append) as watch:
        push(3)
        seen = take(watch, 3)
        for round_ in range(2):
            if stop == "sigterm":
                assert gateway.terminate() == 0
            else:
                gateway.kill9()
            gateway.start()
            # Pushed right after the restart, before or after the watch is
            # back: either way it must see them exactly once.
            push(3)
            seen += take(watch, 3)
            assert watch.reconnects >= round_ + 1
        push(2)
        seen += take(watch, 2)
        assert watch.get(timeout=0.5) is None

    feed.close()
    assert [e.entry.item.item_id for e in seen] == pushed
    assert [e.cursor for e in seen] == list(range(1, len(pushed) + 1))
    assert reconnect_errors, "the watch never saw the gateway go away"
    # The inbox agrees with what the watch delivered.
    assert sorted(e.cursor for e in client.list(page_size=1000)) == [e.cursor for e in seen]


def test_watch_gives_up_when_told_to(police: harness.Org, gateway: harness.Gateway,
                                     client: havengate.Client) -> None:
    client.push(harness.alert("g-0"))
    watch = client.watch(give_up_after=1.0)
    assert take(watch, 1)[0].entry.item.item_id == "g-0"
    gateway.kill9()
    failure = harness.wait_for(lambda: _failure_of(watch), 30, "the watch to give up")
    assert failure.code == grpc.StatusCode.UNAVAILABLE
    assert "gave up reconnecting after 1 s" in failure.message
    watch.close()


def _failure_of(watch: havengate.Watch):
    try:
        watch.get(timeout=0.2)
    except havengate.HavengateError as e:
        return e
    return None
