#!/usr/bin/python3
"""Inbox to folder: follows the organisation's havengate inbox and writes
every item it receives into a case system's drop folder, one JSON file each.

    inbox_to_folder.py --out DIR [--state FILE] [--origin ORG ...]
        [--exclude-origin ORG ...] [--category CATEGORY ...] [--kind alert|report]
        [--count N]
        [--connection havenctl.yaml | --address ... --cert ... --key ... --ca ... --gateway-id ...]

Files (written to a hidden temporary name, synced, then renamed, so the case
system never picks up half a file):

- ``<origin>_<item_id>_v<version>.json``: a new item or version, the inbox
  entry as proto3 JSON (``havenctl items list --json`` prints the same):
  the item, when and from which gateway it was received, its cursor;
- ``<origin>_<item_id>_retracted.json`` (the originator withdrew it) or
  ``..._withdrawn.json`` (the sharing gateway no longer shares it): the
  retraction, with its reason.

The inbox cursor of the last file written is kept in ``--state`` (default
DIR/.havengate-cursor.json), so a restart continues after it: nothing is
written twice and nothing is missed, also across gateway restarts, which the
watch rides out by reconnecting. Items of ``--exclude-origin``
organisations (e.g. your own) are passed over.

Runs until SIGTERM or SIGINT (exit 0), or until ``--count`` events were
handled; exit 1 if the gateway refuses the watch, 2 for a usage or settings
error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from typing import List, Optional

try:
    import havengate
except ImportError:  # running from the repository: use the build's package
    sys.path.insert(0, os.path.join(os.environ.get("HAVENGATE_BINARY_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"), "client", "python"))
    import havengate
from havengate.v1 import ingest_pb2


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def safe(name: str) -> str:
    """A file-name-safe form of an organisation or item id."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def file_for(event: havengate.InboxEvent) -> str:
    if event.HasField("entry"):
        item = event.entry.item
        return f"{safe(item.origin)}_{safe(item.item_id)}_v{item.version}.json"
    retraction = event.retraction
    suffix = "withdrawn" if retraction.kind == ingest_pb2.Retraction.NO_LONGER_SHARED else "retracted"
    return f"{safe(retraction.origin)}_{safe(retraction.item_id)}_{suffix}.json"


def load_cursor(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            return int(json.load(f)["cursor"])
    except FileNotFoundError:
        return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write every item the havengate inbox receives to a folder as JSON files.")
    parser.add_argument("--out", required=True, help="the case system's drop folder")
    parser.add_argument("--state", help="cursor file (default OUT/.havengate-cursor.json)")
    parser.add_argument("--origin", action="append", default=[],
                        help="only items from this organisation (repeatable)")
    parser.add_argument("--exclude-origin", action="append", default=[],
                        help="pass over items from this organisation, e.g. your own (repeatable)")
    parser.add_argument("--category", action="append", default=[],
                        help="only alerts of this category, e.g. PIN_CODE_FRAUD (repeatable)")
    parser.add_argument("--kind", choices=["alert", "report"], help="only alerts or only reports")
    parser.add_argument("--count", type=int, default=0, help="stop after this many events")
    havengate.add_connection_arguments(parser)
    args = parser.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    state = args.state or os.path.join(args.out, ".havengate-cursor.json")
    try:
        filter = havengate.make_filter(origins=args.origin, kind=args.kind, categories=args.category)
        client = havengate.Client(havengate.connection_from_arguments(args))
        after = load_cursor(state)
    except (havengate.HavengateError, ValueError, KeyError) as e:
        log(f"inbox_to_folder: {getattr(e, 'message', e)}")
        return 2

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    handled = 0
    with client, client.watch(after_cursor=after, filter=filter,
                              on_reconnect=lambda e: log(f"reconnecting: {e}")) as watch:
        log(f"watching the inbox after cursor {after}")
        while not stop.is_set():
            try:
                event = watch.get(timeout=0.5)
            except havengate.HavengateError as e:
                log(f"inbox_to_folder: the gateway refused the watch: {e}")
                return 1
            except StopIteration:
                break
            if event is None:
                continue
            origin = (event.entry.item.origin if event.HasField("entry")
                      else event.retraction.origin)
            if origin in args.exclude_origin:
                print(f"passed over cursor {event.cursor} from {origin}", flush=True)
            else:
                path = os.path.join(args.out, file_for(event))
                write_atomically(path, havengate.to_json(event.entry if event.HasField("entry")
                                                         else event) + "\n")
                print(f"wrote {path} (cursor {event.cursor})", flush=True)
            write_atomically(state, json.dumps({"cursor": event.cursor}) + "\n")
            handled += 1
            if args.count and handled >= args.count:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
