"""havengate.Client against a real gateway over mutual TLS: push, duplicates,
invalid items, streams, retraction, listing, health."""

from __future__ import annotations

import copy
import re

import grpc
import pytest

import harness
import havengate
from havengate.v1 import inbox_pb2, ingest_pb2, item_pb2


def stored_form(item: dict, origin: str = "police-nl") -> dict:
    """The item as the gateway stores it: origin from the certificate, version 0 read as 1."""
    expected = copy.deepcopy(item)
    expected["origin"] = origin
    expected.setdefault("version", 1)
    return expected


def bad_check_digit(item_id: str) -> dict:
    item = harness.alert(item_id)
    item["alert"]["containers"][0]["number"] = "SUDU5529173"  # ISO 6346 check digit is 2
    return item


def test_push_returns_the_receipt_and_the_item_is_in_the_inbox(client: havengate.Client) -> None:
    item = harness.alert("01JDQC7H2K9P4S6V8X1Z3B5D7G")
    receipt = client.push(item)

    assert isinstance(receipt, ingest_pb2.Receipt)
    assert receipt.origin == "police-nl"
    assert receipt.item_id == "01JDQC7H2K9P4S6V8X1Z3B5D7G"
    assert receipt.version == 1
    assert receipt.cursor == 1
    assert receipt.duplicate is False
    assert re.fullmatch(r"[0-9a-f]{64}", receipt.digest)
    assert receipt.accepted_at.seconds > 0

    entries = list(client.list())
    assert len(entries) == 1
    entry = entries[0]
    assert entry.cursor == receipt.cursor
    assert entry.received_from == "police-nl"
    assert entry.received_at == receipt.accepted_at
    assert not entry.HasField("retraction")
    # Every field of the item came back as pushed, and the gateway set the origin.
    assert havengate.to_dict(entry.item) == stored_form(item)


def test_push_accepts_a_generated_message(client: havengate.Client) -> None:
    item = item_pb2.Item(
        item_id="msg-1",
        classification=item_pb2.Classification(tlp=item_pb2.Classification.GREEN),
        alert=item_pb2.Alert(
            category=item_pb2.Alert.SUSPICIOUS_CONTAINER, severity=item_pb2.Alert.HIGH,
            title="Reefer with a broken seal at the scanner",
            containers=[item_pb2.Container(number="MSCU4812360", seal_number="EU-44120")]))
    item.created_at.FromJsonString("2026-11-28T10:00:00Z")
    receipt = client.push(item)
    assert (receipt.item_id, receipt.version, receipt.duplicate) == ("msg-1", 1, False)

    [entry] = client.list({"item_id": "msg-1"})
    stored = entry.item
    assert stored.origin == "police-nl"
    assert stored.classification.tlp == item_pb2.Classification.GREEN
    assert stored.alert.category == item_pb2.Alert.SUSPICIOUS_CONTAINER
    assert stored.alert.severity == item_pb2.Alert.HIGH
    assert stored.alert.title == "Reefer with a broken seal at the scanner"
    assert [c.number for c in stored.alert.containers] == ["MSCU4812360"]
    assert stored.alert.containers[0].seal_number == "EU-44120"
    assert stored.created_at.ToJsonString() == "2026-11-28T10:00:00Z"


def test_duplicate_push_returns_the_original_receipt(client: havengate.Client) -> None:
    item = harness.alert("dup-1")
    first = client.push(item)
    again = client.push(copy.deepcopy(item))

    assert again.duplicate is True
    assert first.duplicate is False
    for field in ("origin", "item_id", "version", "cursor", "digest"):
        assert getattr(again, field) == getattr(first, field), field
    assert again.accepted_at == first.accepted_at
    assert harness.inbox_ids(client) == ["dup-1"]

    # Same (item_id, version), other content: refused, nothing changes.
    changed = harness.alert("dup-1", title="A different title")
    with pytest.raises(havengate.HavengateError) as refused:
        client.push(changed)
    assert refused.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert refused.value.message == ("item dup-1 version 1 was accepted before with different "
                                     "content; send a higher version to change it")
    [entry] = client.list()
    assert entry.item.alert.title == item["alert"]["title"]

    # A higher version replaces it.
    changed["version"] = 2
    second = client.push(changed)
    assert (second.version, second.duplicate) == (2, False)
    assert second.cursor > first.cursor
    [entry] = client.list()
    assert (entry.item.version, entry.item.alert.title) == (2, "A different title")


def test_invalid_item_raises_with_the_field_path(client: havengate.Client) -> None:
    with pytest.raises(havengate.ValidationError) as refused:
        client.push(bad_check_digit("bad-1"))
    error = refused.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.field_path == "alert.containers[0].number"
    assert error.violations == [havengate.Violation("alert.containers[0].number",
                                                    "check digit is 3, expected 2 (ISO 6346)")]
    assert error.message == "alert.containers[0].number: check digit is 3, expected 2 (ISO 6346)"

    # Every problem is reported, each with its path, in the gateway's order.
    worse = bad_check_digit("bad-2")
    worse["alert"]["title"] = ""
    worse["alert"]["location"]["unlocode"] = "NL-RTM"
    with pytest.raises(havengate.ValidationError) as refused:
        client.push(worse)
    assert refused.value.field_paths == ["alert.title", "alert.containers[0].number",
                                         "alert.location.unlocode"]
    assert refused.value.violations[0].reason == "is required"

    assert harness.inbox_ids(client) == []


def test_item_that_does_not_fit_the_message_is_refused_before_sending(client: havengate.Client) -> None:
    item = harness.alert("local-1")
    item["alert"]["containers"][0]["colour"] = "red"
    with pytest.raises(havengate.ValidationError) as refused:
        client.push(item)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.field_path == "alert.containers[0]"
    assert refused.value.message == 'alert.containers[0]: unknown field "colour"'

    item = harness.alert("local-2", severity="SEVERE")
    with pytest.raises(havengate.ValidationError) as refused:
        client.push(item)
    assert refused.value.field_path == "alert.severity"

    item = harness.alert("local-3", observed_at="28 November 2026")
    with pytest.raises(havengate.ValidationError) as refused:
        client.push(item)
    assert refused.value.violations == [havengate.Violation(
        "alert.observed_at", "is not a time in RFC 3339 form, e.g. 2026-11-28T14:05:00Z")]
    assert harness.inbox_ids(client) == []


def test_stream_answers_every_item_and_a_bad_one_does_not_stop_it(client: havengate.Client) -> None:
    unparseable = harness.alert("s-local")
    unparseable["alert"]["colour"] = "red"
    items = [harness.alert("s-0"), harness.alert("s-1"), bad_check_digit("s-2"), unparseable,
             harness.alert("s-4"), harness.alert("s-0")]

    results = list(client.push_stream(items, window=2))

    assert [r.index for r in results] == [0, 1, 2, 3, 4, 5]
    assert [r.item_id for r in results] == ["s-0", "s-1", "s-2", "s-local", "s-4", "s-0"]
    assert [r.ok for r in results] == [True, True, False, False, True, True]
    # The gateway's refusal, with the field path.
    assert isinstance(results[2].error, havengate.ValidationError)
    assert results[2].error.field_path == "alert.containers[0].number"
    assert results[2].receipt is None
    # Refused here without being sent.
    assert isinstance(results[3].error, havengate.ValidationError)
    assert results[3].error.message == 'alert: unknown field "colour"'
    # Accepted items have receipts in stream order; the repeat is a duplicate.
    receipts = [results[i].receipt for i in (0, 1, 4)]
    assert [r.item_id for r in receipts] == ["s-0", "s-1", "s-4"]
    assert [r.cursor for r in receipts] == [1, 2, 3]
    assert not any(r.duplicate for r in receipts)
    assert results[5].receipt.duplicate is True
    assert results[5].receipt.cursor == 1

    assert harness.inbox_ids(client) == ["s-4", "s-1", "s-0"]


def test_stream_of_many_items_keeps_order(client: havengate.Client) -> None:
    items = (harness.alert(f"bulk-{i:04d}") for i in range(300))
    results = list(client.push_stream(items, window=16))
    assert [r.index for r in results] == list(range(300))
    assert all(r.ok for r in results)
    assert [r.receipt.cursor for r in results] == list(range(1, 301))
    assert len(list(client.list(page_size=1000))) == 300


def test_retract_withdraws_the_item(client: havengate.Client) -> None:
    client.push(harness.alert("ret-1"))
    client.push(harness.alert("keep-1"))

    retraction = client.retract("ret-1", "information proved false")
    assert isinstance(retraction, ingest_pb2.Retraction)
    assert retraction.origin == "police-nl"
    assert retraction.item_id == "ret-1"
    assert retraction.reason == "information proved false"
    assert retraction.kind == ingest_pb2.Retraction.RETRACTED_BY_ORIGIN
    assert retraction.decided_by == "police-nl"
    assert retraction.retracted_at.seconds > 0

    assert harness.inbox_ids(client) == ["keep-1"]
    with_retracted = {e.item.item_id: e for e in client.list({"include_retracted": True})}
    assert set(with_retracted) == {"ret-1", "keep-1"}
    assert with_retracted["ret-1"].retraction.reason == "information proved false"
    assert not with_retracted["keep-1"].HasField("retraction")

    # No new version after a retraction; an unknown item cannot be retracted.
    newer = harness.alert("ret-1")
    newer["version"] = 2
    with pytest.raises(havengate.HavengateError) as refused:
        client.push(newer)
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(havengate.HavengateError) as refused:
        client.retract("never-pushed", "typo")
    assert refused.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(havengate.ValidationError) as refused:
        client.retract("keep-1", "")
    assert refused.value.field_path == "reason"


def test_list_pages_newest_first_and_filters(client: havengate.Client) -> None:
    client.push(harness.alert("l-0"))
    report = {"item_id": "l-1", "classification": {"tlp": "GREEN"},
              "report": {"title": "Rip-off method at the reefer terminals"}}
    client.push(report)
    for i in range(2, 7):
        client.push(harness.alert(f"l-{i}", category="PIN_CODE_FRAUD"))

    assert [e.item.item_id for e in client.list(page_size=2)] == [f"l-{i}" for i in range(6, -1, -1)]
    assert [e.item.item_id for e in client.list(limit=3, page_size=2)] == ["l-6", "l-5", "l-4"]
    page = client.list_page(page_size=4)
    assert len(page.entries) == 4 and page.next_page_token
    assert harness.inbox_ids(client, kind="report") == ["l-1"]
    assert harness.inbox_ids(client, categories=["UNAUTHORISED_ACCESS"]) == ["l-0"]
    assert harness.inbox_ids(client, origins=["customs-nl"]) == []
    flt = havengate.make_filter(kind="alert", categories=["PIN_CODE_FRAUD"])
    assert isinstance(flt, inbox_pb2.ItemFilter)
    assert len(list(client.list(flt))) == 5


def test_health(client: havengate.Client) -> None:
    assert client.health() == "SERVING"
    assert client.health("havengate.v1.Federation") == "SERVING"
    with pytest.raises(havengate.HavengateError) as unknown:
        client.health("no.such.Service")
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND


def test_client_reads_the_connection_file(police: harness.Org, gateway: harness.Gateway) -> None:
    path = police.connection_file(gateway.port)
    with havengate.Client(connection=path) as client:
        assert str(client.client_id) == "spiffe://police.nl.example/client/integration"
        assert str(client.gateway_id) == "spiffe://police.nl.example/gateway"
        assert client.options.address == f"127.0.0.1:{gateway.port}"
        assert client.push(harness.alert("via-file")).item_id == "via-file"
