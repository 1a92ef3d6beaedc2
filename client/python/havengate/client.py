"""The havengate client: push items into your organisation's gateway, follow its inbox."""

from __future__ import annotations

import collections
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import (Any, Callable, Deque, Iterable, Iterator, List, Mapping, Optional, Tuple,
                    Union)

import grpc

from havengate import health as _health
from havengate.connection import (ConnectionOptions, Credentials, SpiffeId, check_credentials,
                                  resolve_connection)
from havengate.errors import (HavengateError, StreamAbortedError, ValidationError,
                              error_from_rpc_error, error_from_status, status_code_from_int)
from havengate.items import ItemLike, filter_from, to_item
from havengate.v1 import inbox_pb2, inbox_pb2_grpc, ingest_pb2, ingest_pb2_grpc

__all__ = ["Client", "StreamResult", "Watch", "FilterLike"]

#: An inbox filter: an ``ItemFilter`` message, a dict of
#: :func:`havengate.make_filter` arguments (``{"origins": ["customs-nl"]}``),
#: or None for everything.
FilterLike = Union[inbox_pb2.ItemFilter, Mapping[str, Any], None]

_MAX_MESSAGE_BYTES = 16 << 20
# Calls that are safe to repeat are retried by gRPC when the connection
# failed under them (UNAVAILABLE before any answer), e.g. a Push sent just
# as the gateway restarted: a repeated Push returns the original receipt.
_SERVICE_CONFIG = json.dumps({"methodConfig": [{
    "name": [{"service": "havengate.v1.Ingest", "method": "Push"},
             {"service": "havengate.v1.Inbox", "method": "List"},
             {"service": "grpc.health.v1.Health", "method": "Check"}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.2s", "maxBackoff": "2s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
}]})
# Codes after which a watch reconnects: the gateway went away (restart,
# network) or refused the call for now (limits).
_RECONNECT_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                              grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED,
                              grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


@dataclass(frozen=True)
class StreamResult:
    """The answer to one item of :meth:`Client.push_stream`."""

    #: 0-based position of the item in what was passed to push_stream.
    index: int
    #: The item's id as sent ("" if it had none).
    item_id: str
    #: What the gateway recorded, when the item was accepted.
    receipt: Optional[ingest_pb2.Receipt]
    #: Why the item was refused (a :class:`~havengate.errors.ValidationError`
    #: for an invalid item, with its field paths), or None.
    error: Optional[HavengateError]

    @property
    def ok(self) -> bool:
        """True if the gateway accepted the item (or already held it)."""
        return self.error is None


class Client:
    """A connection to your organisation's gateway, as an integration client.

    Settings come as :class:`~havengate.ConnectionOptions`, or as a connection
    file and/or the values ``havenctl`` takes as flags (the file is
    ``connection``, else ``$HAVENCTL_CONNECTION``, else ``./havenctl.yaml``)::

        with havengate.Client(connection="havenctl.yaml") as client:
            receipt = client.push(item)          # durable at the gateway
            for event in client.watch(after_cursor=receipt.cursor):
                ...

    The certificate, key and CA are checked before connecting, as
    ``havenctl`` checks them and with its messages: a mismatched key, an
    expired certificate or a certificate that is not an integration
    client's of the gateway's organisation raise
    :class:`~havengate.errors.ConnectionSettingsError` at construction. The
    connection is mutual TLS, trusting only the organisation's CA and only a
    gateway that presents exactly ``gateway_id`` in its certificate.

    Every failed call raises a :class:`~havengate.errors.HavengateError`
    with the gRPC status code and the gateway's message; invalid items raise
    :class:`~havengate.errors.ValidationError`, whose ``field_path`` names
    the offending field. A Client is thread-safe and holds one connection:
    share it. Close it (or use ``with``) when done.
    """

    def __init__(self, options: Optional[ConnectionOptions] = None, *,
                 connection: Optional[str] = None, address: Optional[str] = None,
                 certificate: Optional[str] = None, private_key: Optional[str] = None,
                 ca: Optional[str] = None, gateway_id: Optional[str] = None,
                 timeout: Optional[float] = None, wait_for_ready: bool = False) -> None:
        """Checks the settings and creates the channel (it connects on first use).

        Give either ``options`` or any of the others (a connection file and
        overrides, as ``havenctl --connection FILE --address ...``).
        ``timeout`` is the deadline of each unary call in seconds (default
        30, or the file's ``timeout_seconds``).

        By default a call fails at once (``UNAVAILABLE``, with the reason)
        while the gateway cannot be reached. With ``wait_for_ready`` calls
        wait for it instead, up to their deadline: useful for feeds that
        should ride out a gateway restart, though a refused TLS handshake
        then shows as ``DEADLINE_EXCEEDED`` rather than its reason.
        """
        if options is None:
            options = resolve_connection(connection, address=address, certificate=certificate,
                                         private_key=private_key, ca=ca, gateway_id=gateway_id,
                                         timeout=timeout)
        elif any(v is not None for v in (connection, address, certificate, private_key, ca,
                                         gateway_id, timeout)):
            raise TypeError("give either options or connection settings, not both")
        credentials = check_credentials(options)
        self._options = options
        self._identity = credentials
        self._wait_for_ready = wait_for_ready
        self._channel = grpc.secure_channel(options.address, _channel_credentials(credentials),
                                            options=_channel_options(credentials.gateway_id))
        self._ingest = ingest_pb2_grpc.IngestStub(self._channel)
        self._inbox = inbox_pb2_grpc.InboxStub(self._channel)
        self._health = _health.HealthStub(self._channel)

    # --- properties -------------------------------------------------------

    @property
    def options(self) -> ConnectionOptions:
        """The resolved connection settings."""
        return self._options

    @property
    def client_id(self) -> SpiffeId:
        """This client's identity, from its certificate."""
        return self._identity.client_id

    @property
    def gateway_id(self) -> SpiffeId:
        """The identity the gateway must present."""
        return self._identity.gateway_id

    @property
    def channel(self) -> grpc.Channel:
        """The underlying gRPC channel, for services this class does not wrap."""
        return self._channel

    def close(self) -> None:
        """Closes the connection; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- Ingest -------------------------------------------------------------

    def push(self, item: ItemLike) -> ingest_pb2.Receipt:
        """Pushes one item; returns once it is durable at the gateway.

        ``item`` is an ``Item`` message, a proto3 JSON dict or JSON text. The
        gateway sets ``origin`` from this client's certificate. Pushing the
        same (item_id, version) with the same content again is safe: it
        returns the original receipt with ``duplicate`` set.

        If the connection fails under the call (the gateway restarting, say)
        it is repeated a few times within a few seconds, which is safe for
        the same reason.

        Raises :class:`~havengate.errors.ValidationError` for an invalid item
        (``err.field_path``, e.g. ``alert.containers[0].number``), and
        :class:`~havengate.errors.HavengateError` with ``ALREADY_EXISTS`` if
        that (item_id, version) was accepted before with other content.
        """
        request = ingest_pb2.PushRequest(item=to_item(item))
        try:
            return self._ingest.Push(request, timeout=self._options.timeout,
                                     wait_for_ready=self._wait_for_ready).receipt
        except grpc.RpcError as e:
            raise error_from_rpc_error(e) from None

    def push_stream(self, items: Iterable[ItemLike], window: int = 256) -> Iterator[StreamResult]:
        """Pushes many items on one stream; yields one :class:`StreamResult` per item, in order.

        A refused item (invalid, say) is reported in its result and does not
        stop the stream; an item that does not even parse as an ``Item`` is
        reported the same way without being sent. At most ``window`` items
        are in flight unanswered. Accepted results are durable.

        ``items`` is consumed on a gRPC thread while results are yielded
        here; nothing is sent before the iteration starts. If the stream
        fails, the results so far have been yielded and
        :class:`~havengate.errors.StreamAbortedError` is raised listing the
        item ids sent and not acknowledged (pushing them again is safe).
        Stopping the iteration early cancels the stream.
        """
        if window < 1:
            raise ValueError("window must be at least 1")
        return self._push_stream(iter(items), window)

    def _push_stream(self, items: Iterator[ItemLike], window: int) -> Iterator[StreamResult]:
        cv = threading.Condition()
        # Caller's order: (index, item_id, local error or None if sent).
        order: Deque[Tuple[int, str, Optional[HavengateError]]] = collections.deque()
        state = {"in_flight": 0, "done": False, "sent": 0}
        iterator_error: List[BaseException] = []

        def requests() -> Iterator[ingest_pb2.PushRequest]:
            index = 0
            while True:
                with cv:
                    cv.wait_for(lambda: state["in_flight"] < window or state["done"])
                    if state["done"]:
                        return
                try:
                    raw = next(items)
                except StopIteration:
                    return
                except BaseException as e:  # the caller's iterator failed: end the stream
                    iterator_error.append(e)
                    return
                try:
                    item = to_item(raw)
                except (ValidationError, TypeError) as e:
                    error = e if isinstance(e, HavengateError) else ValidationError(f"item: {e}")
                    with cv:
                        order.append((index, _raw_item_id(raw), error))
                        cv.notify_all()
                    index += 1
                    continue
                with cv:
                    order.append((index, item.item_id, None))
                    state["in_flight"] += 1
                    state["sent"] += 1
                index += 1
                yield ingest_pb2.PushRequest(item=item)

        call = self._ingest.PushStream(requests(), wait_for_ready=self._wait_for_ready)
        failure: Optional[HavengateError] = None
        try:
            try:
                for result in call:
                    with cv:
                        locals_before = []
                        while order and order[0][2] is not None:
                            locals_before.append(order.popleft())
                        entry = order.popleft() if order else (result.index, result.item_id, None)
                        state["in_flight"] -= 1
                        cv.notify_all()
                    for index, item_id, error in locals_before:
                        yield StreamResult(index, item_id, None, error)
                    if result.code == 0:
                        yield StreamResult(entry[0], result.item_id, result.receipt, None)
                    else:
                        yield StreamResult(entry[0], result.item_id, None,
                                           error_from_status(status_code_from_int(result.code),
                                                             result.message))
            except grpc.RpcError as e:
                failure = error_from_rpc_error(e)
            with cv:
                state["done"] = True
                cv.notify_all()
                rest = list(order)
                order.clear()
            # Items refused before sending that come before the first
            # unanswered one are still answered in order.
            unanswered = []
            for index, item_id, error in rest:
                if error is not None and not unanswered:
                    yield StreamResult(index, item_id, None, error)
                elif error is None:
                    unanswered.append(item_id)
            if failure is not None:
                raise StreamAbortedError(failure.code, failure.message, unanswered)
            if unanswered:
                raise StreamAbortedError(
                    grpc.StatusCode.ABORTED,
                    f"the gateway ended the stream without answering {len(unanswered)} of "
                    f"{state['sent']} items (the first unanswered one may be malformed); "
                    "they were not acknowledged", unanswered)
            if iterator_error:
                raise iterator_error[0]
        finally:
            with cv:
                state["done"] = True
                cv.notify_all()
            call.cancel()

    def retract(self, item_id: str, reason: str) -> ingest_pb2.Retraction:
        """Withdraws one of this organisation's items everywhere it was shared.

        ``reason`` is required (at most 1,000 characters), e.g.
        ``"information proved false"``. Raises
        :class:`~havengate.errors.HavengateError` with ``NOT_FOUND`` if the
        item was never pushed.
        """
        request = ingest_pb2.RetractRequest(item_id=item_id, reason=reason)
        try:
            return self._ingest.Retract(request, timeout=self._options.timeout,
                                        wait_for_ready=self._wait_for_ready).retraction
        except grpc.RpcError as e:
            raise error_from_rpc_error(e) from None

    # --- Inbox --------------------------------------------------------------

    def list_page(self, filter: FilterLike = None, page_size: int = 100,
                  page_token: str = "") -> inbox_pb2.ListResponse:
        """One page of the inbox, newest first (``next_page_token`` is empty on the last)."""
        request = inbox_pb2.ListRequest(filter=filter_from(filter), page_size=page_size,
                                        page_token=page_token)
        try:
            return self._inbox.List(request, timeout=self._options.timeout,
                                    wait_for_ready=self._wait_for_ready)
        except grpc.RpcError as e:
            raise error_from_rpc_error(e) from None

    def list(self, filter: FilterLike = None, *, limit: Optional[int] = None,
             page_size: int = 100) -> Iterator[inbox_pb2.InboxEntry]:
        """The current version of every matching inbox item, newest first, page by page.

        ``filter`` is an ``ItemFilter``, a dict such as ``{"origins":
        ["customs-nl"], "kind": "alert"}`` (see :func:`havengate.make_filter`)
        or None; ``limit`` stops after that many entries.
        """
        token = ""
        shown = 0
        while True:
            page = self.list_page(filter, page_size, token)
            for entry in page.entries:
                if limit is not None and shown >= limit:
                    return
                shown += 1
                yield entry
            token = page.next_page_token
            if not token or (limit is not None and shown >= limit):
                return

    def watch(self, after_cursor: int = 0, filter: FilterLike = None, *, reconnect: bool = True,
              give_up_after: Optional[float] = None,
              on_reconnect: Optional[Callable[[HavengateError], None]] = None) -> "Watch":
        """Follows the inbox: every event after ``after_cursor``, then new ones as they happen.

        Returns a :class:`Watch`, an iterator of ``InboxEvent`` messages (a new
        item or version in ``event.entry``, a withdrawal in
        ``event.retraction``) in cursor order. If the connection drops or
        the gateway restarts, it reconnects and resumes after the last
        cursor received: no event is skipped or repeated. ``give_up_after``
        (seconds) bounds how long it keeps trying without getting through;
        None tries for ever. ``on_reconnect`` is called (on the watch's
        thread) with the error before each reconnection. Errors that a
        reconnection cannot cure (an identity the gateway refuses, say) are
        raised from the iterator. Keep ``watch.cursor`` to resume later.
        """
        return Watch(self._channel, filter_from(filter), after_cursor, reconnect, give_up_after,
                     on_reconnect)

    # --- Health -------------------------------------------------------------

    def health(self, service: str = "") -> str:
        """The gateway's ``grpc.health.v1`` status: ``"SERVING"`` or ``"NOT_SERVING"``.

        ``service`` "" is the gateway as a whole (it follows the store);
        ``"havengate.v1.Federation"`` says whether partners' gateways are
        reachable and outboxes draining. Raises
        :class:`~havengate.errors.HavengateError` with ``NOT_FOUND`` for an
        unknown service.
        """
        try:
            return self._health.check(service, timeout=self._options.timeout,
                                      wait_for_ready=self._wait_for_ready)
        except grpc.RpcError as e:
            raise error_from_rpc_error(e) from None


def _raw_item_id(raw: Any) -> str:
    if isinstance(raw, Mapping):
        value = raw.get("item_id", raw.get("itemId", ""))
        return value if isinstance(value, str) else ""
    return ""


def _channel_credentials(credentials: Credentials) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=credentials.root_certificate,
                                        private_key=credentials.private_key,
                                        certificate_chain=credentials.certificate_chain)


def _channel_options(gateway_id: SpiffeId) -> List[Tuple[str, Any]]:
    return [
        # The gateway is identified by its SPIFFE id, not a host name: gRPC
        # matches this name against the subject alternative names of the
        # certificate the gateway presents (chained to the one trusted CA),
        # and the SPIFFE id is its URI SAN. The brackets keep gRPC from
        # reading "spiffe:" as a host and the rest as a port.
        ("grpc.ssl_target_name_override", f"[{gateway_id}]"),
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        # Reconnect within seconds of a gateway coming back (gRPC's default
        # backoff grows to two minutes).
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 3_000),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", _SERVICE_CONFIG),
    ]


class Watch(Iterator[inbox_pb2.InboxEvent]):
    """An iterator over inbox events that survives disconnects (see :meth:`Client.watch`).

    Events are read on a thread of their own and handed over in cursor
    order. ``next(watch)`` blocks until the next event; :meth:`get` waits at
    most a given time. The iteration ends after :meth:`close` (also called
    by ``with``), and raises :class:`~havengate.errors.HavengateError` if
    the watch fails for good.
    """

    _MAX_BUFFERED = 1024

    def __init__(self, channel: grpc.Channel, filter: inbox_pb2.ItemFilter,
                 after_cursor: int, reconnect: bool, give_up_after: Optional[float],
                 on_reconnect: Optional[Callable[[HavengateError], None]]) -> None:
        self._channel = channel
        self._inbox = inbox_pb2_grpc.InboxStub(channel)
        self._filter = filter
        self._reconnect = reconnect
        self._give_up_after = give_up_after
        self._on_reconnect = on_reconnect
        self._cv = threading.Condition()
        self._events: Deque[inbox_pb2.InboxEvent] = collections.deque()
        self._failure: Optional[HavengateError] = None
        self._ended = False  # the reader stopped (closed, failed or stream over)
        self._closed = False
        self._call: Any = None
        self._ready: Any = None  # the channel_ready_future waited on between attempts
        self._cursor = after_cursor  # last event handed to the caller
        self._received = after_cursor  # last event read from the gateway
        self._reconnects = 0
        self._thread = threading.Thread(target=self._run, name="havengate-watch", daemon=True)
        self._thread.start()

    @property
    def cursor(self) -> int:
        """Cursor of the last event returned (the ``after_cursor`` to resume from)."""
        with self._cv:
            return self._cursor

    @property
    def reconnects(self) -> int:
        """How many times the watch reconnected."""
        with self._cv:
            return self._reconnects

    def __iter__(self) -> "Watch":
        return self

    def __next__(self) -> inbox_pb2.InboxEvent:
        event = self._take(None)
        assert event is not None
        return event

    def get(self, timeout: Optional[float] = None) -> Optional[inbox_pb2.InboxEvent]:
        """The next event, or None if none arrived within ``timeout`` seconds.

        Raises StopIteration once the watch is closed and drained, and the
        watch's error if it failed.
        """
        return self._take(timeout)

    def _take(self, timeout: Optional[float]) -> Optional[inbox_pb2.InboxEvent]:
        with self._cv:
            self._cv.wait_for(lambda: self._events or self._ended or self._closed, timeout)
            if self._events:
                event = self._events.popleft()
                self._cursor = event.cursor
                self._cv.notify_all()
                return event
            if self._failure is not None:
                raise self._failure
            if self._ended or self._closed:
                raise StopIteration
            return None

    def close(self) -> None:
        """Stops watching; events already received can still be taken."""
        with self._cv:
            self._closed = True
            call, ready = self._call, self._ready
            self._cv.notify_all()
        if call is not None:
            call.cancel()
        if ready is not None:
            ready.cancel()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- the reader thread ----------------------------------------------------

    def _run(self) -> None:
        delay = 0.1
        failing_since: Optional[float] = None
        try:
            while True:
                with self._cv:
                    if self._closed:
                        return
                    request = inbox_pb2.SubscribeRequest(filter=self._filter,
                                                         after_cursor=self._received)
                    call = self._inbox.Subscribe(request)
                    self._call = call
                error = HavengateError(grpc.StatusCode.UNAVAILABLE, "the gateway ended the stream")
                ended_by_gateway = False
                try:
                    for event in call:
                        if not self._deliver(event):
                            return
                        failing_since = None
                        delay = 0.1
                    ended_by_gateway = True  # e.g. the gateway is shutting down
                except grpc.RpcError as e:
                    error = error_from_rpc_error(e)
                with self._cv:
                    if self._closed:
                        return
                if ended_by_gateway:
                    if not self._reconnect:
                        return
                    failing_since = None  # it was connected until now
                elif not self._reconnect or error.code not in _RECONNECT_CODES:
                    self._fail(error)
                    return
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                elif self._give_up_after is not None and now - failing_since > self._give_up_after:
                    self._fail(HavengateError(error.code, f"gave up reconnecting after "
                                                          f"{self._give_up_after:g} s: {error.message}"))
                    return
                if self._on_reconnect is not None:
                    self._on_reconnect(error)
                # Wait before reconnecting: until the channel is connected
                # again, at most the backoff delay. Waiting on the channel
                # (not just the clock) also drives its reconnection: gRPC
                # Python makes progress on a connection attempt only while
                # some thread polls the channel.
                with self._cv:
                    if self._closed:
                        return
                    ready = grpc.channel_ready_future(self._channel)
                    self._ready = ready
                try:
                    ready.result(timeout=delay * (0.5 + random.random()))
                except (grpc.FutureTimeoutError, grpc.FutureCancelledError):
                    pass
                finally:
                    ready.cancel()
                with self._cv:
                    self._ready = None
                    if self._closed:
                        return
                    self._reconnects += 1
                delay = min(delay * 2, 3.0)
        finally:
            with self._cv:
                self._ended = True
                self._call = None
                self._cv.notify_all()

    def _deliver(self, event: inbox_pb2.InboxEvent) -> bool:
        with self._cv:
            if event.cursor <= self._received:
                return True  # already delivered before a reconnect
            self._cv.wait_for(lambda: len(self._events) < self._MAX_BUFFERED or self._closed)
            if self._closed:
                return False
            self._events.append(event)
            self._received = event.cursor
            self._cv.notify_all()
            return True

    def _fail(self, error: HavengateError) -> None:
        with self._cv:
            self._failure = error
            self._cv.notify_all()
