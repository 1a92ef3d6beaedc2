#!/usr/bin/python3
"""Gate and badge alerts: a terminal's CSV export of gate and badge events,
tailed, turned into havengate alerts and pushed to the organisation's gateway.

    gate_badge_alerts.py EVENTS.csv --flagged FLAGGED.csv [--follow]
        [--checkpoint FILE] [--source NAME] [--unlocode NLRTM] [--grace 30]
        [--connection havenctl.yaml | --address ... --cert ... --key ... --ca ... --gateway-id ...]

EVENTS.csv is what a port access system exports (samples/terminal-events.csv),
one event per line after a header::

    timestamp,terminal,event,location,badge_id,holder,employer,shift,container,truck,direction,haulier

``event`` is BADGE (a badge reader: badge_id, holder, employer, and the
holder's rostered ``shift`` that day as HH:MM-HH:MM, empty if not rostered)
or GATE (a truck gate transaction: container, truck, direction IN/OUT,
haulier). ``timestamp`` is ISO 8601 with the terminal's UTC offset.

Alerts (everything else is read and passed over):

- a badge used outside the holder's shift (``--grace`` minutes either side),
  or by a holder not rostered that day: UNAUTHORISED_ACCESS, MEDIUM;
- a gate transaction of a container on the flagged list (FLAGGED.csv:
  number,category,severity,reason; see samples/flagged-containers.csv):
  the list's category and severity. Containers are matched on owner code and
  serial number, so a misread check digit still raises the alert; the
  gateway then refuses it, naming the field, and the line is reported.

Idempotent: an alert is built from its line alone and its item id is derived
from the line (``<source>-<first 40 hex digits of SHA-256 of the line>``), so
sending a line again (after a crash, or a line the export repeats) gives the
same item, which the gateway holds once ("already held").

Checkpoint (``--checkpoint``, default EVENTS.csv.checkpoint): the byte offset
after the last line handled, replaced atomically once the gateway has
answered every alert before it. A restart continues there and resends
nothing; a file replaced or truncated (log rotation) is read from its start
again, which the idempotent ids make harmless.

Without ``--follow`` the program handles what the file holds and exits: 0 if
every line was handled (refused alerts and unreadable lines are reported on
stderr and count as handled), 1 if the gateway could not take the alerts
(the checkpoint keeps what it did take), 2 for a usage or settings error.
With ``--follow`` it keeps reading new lines until SIGTERM or SIGINT, and
retries, with backoff, while the gateway is unreachable.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

try:
    import havengate
except ImportError:  # running from the repository: use the build's package
    sys.path.insert(0, os.path.join(os.environ.get("HAVENGATE_BINARY_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"), "client", "python"))
    import havengate
from havengate.v1 import item_pb2

COLUMNS = ["timestamp", "terminal", "event", "location", "badge_id", "holder", "employer",
           "shift", "container", "truck", "direction", "haulier"]


class LineError(Exception):
    """A line that cannot be read as an event."""


@dataclass(frozen=True)
class Flag:
    category: str
    severity: str
    reason: str


@dataclass(frozen=True)
class Settings:
    source: str
    unlocode: str
    grace_minutes: int
    tlp: str
    handling_code: str
    reporter_unit: str
    flagged: Dict[str, Flag]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the rules ----------------------------------------------------------------


def read_flagged(path: str) -> Dict[str, Flag]:
    """The flagged containers, keyed by owner code and serial (the first 10 characters)."""
    flagged: Dict[str, Flag] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for number, row in enumerate(reader, start=2):
            container = (row.get("number") or "").strip().upper()
            category = (row.get("category") or "").strip().upper()
            severity = (row.get("severity") or "").strip().upper()
            if len(container) != 11:
                raise ValueError(f"{path}:{number}: number: expected an ISO 6346 container number")
            if category not in item_pb2.Alert.Category.keys() or category == "CATEGORY_UNSPECIFIED":
                raise ValueError(f"{path}:{number}: category: unknown alert category {category!r}")
            if severity not in item_pb2.Alert.Severity.keys() or severity == "SEVERITY_UNSPECIFIED":
                raise ValueError(f"{path}:{number}: severity: unknown severity {severity!r}")
            flagged[container[:10]] = Flag(category, severity, (row.get("reason") or "").strip())
    return flagged


def item_id_of(source: str, line: str) -> str:
    """The alert's item id: the same line always gives the same id."""
    return f"{source}-{hashlib.sha256(line.encode('utf-8')).hexdigest()[:40]}"


def parse_time(text: str) -> datetime.datetime:
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise LineError(f"timestamp: {text!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise LineError(f"timestamp: {text!r} has no UTC offset")
    return when


def rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_shift(text: str) -> Optional[Tuple[int, int]]:
    """(start, end) in minutes after midnight, or None if not rostered."""
    text = text.strip()
    if not text:
        return None
    try:
        start, end = text.split("-")
        minutes = []
        for part in (start, end):
            hours, mins = part.strip().split(":")
            minutes.append(int(hours) * 60 + int(mins))
    except ValueError:
        raise LineError(f"shift: {text!r} is not HH:MM-HH:MM") from None
    return minutes[0], minutes[1]


def within_shift(minute: int, shift: Tuple[int, int], grace: int) -> bool:
    start, end = shift
    day = 24 * 60

    def distance_inside(lo: int, hi: int) -> bool:
        # Is `minute` within [lo - grace, hi + grace] on a 24-hour clock?
        lo, hi = lo - grace, hi + grace
        return any(lo <= m <= hi for m in (minute, minute + day, minute - day))

    if start <= end:
        return distance_inside(start, end)
    return distance_inside(start, end + day)  # a night shift, e.g. 22:00-06:00


def envelope(settings: Settings, line: str, when: datetime.datetime) -> dict:
    return {
        "item_id": item_id_of(settings.source, line),
        "version": 1,
        "created_at": rfc3339(when),  # from the line, so the same line gives the same item
        "classification": {"tlp": settings.tlp, "handling_code": settings.handling_code},
    }


def alert_for(row: Dict[str, str], line: str, settings: Settings) -> Optional[dict]:
    """The alert a CSV row raises, as proto3 JSON; None if it raises none."""
    when = parse_time(row["timestamp"])
    local = when.strftime("%H:%M")
    terminal = row["terminal"].strip()
    location = {"unlocode": settings.unlocode, "terminal": terminal,
                "description": row["location"].strip()}
    reporter = {"name": "Gate and badge feed", "unit": settings.reporter_unit}
    event = row["event"].strip().upper()
    if event == "BADGE":
        badge, holder = row["badge_id"].strip(), row["holder"].strip()
        if not badge:
            raise LineError("badge_id: is required for a BADGE event")
        shift = parse_shift(row["shift"])
        minute = when.hour * 60 + when.minute
        if shift is not None and within_shift(minute, shift, settings.grace_minutes):
            return None
        why = (f"outside the holder's shift ({row['shift'].strip()})" if shift is not None
               else "by a holder not rostered that day")
        item = envelope(settings, line, when)
        item["alert"] = {
            "category": "UNAUTHORISED_ACCESS",
            "severity": "MEDIUM",
            "title": f"Badge {badge} used at {local} {why}",
            "description": (f"Port access system: badge {badge} ({holder or 'holder unknown'}"
                            f"{', ' + row['employer'].strip() if row['employer'].strip() else ''}) "
                            f"was used at {location['description'] or 'a badge reader'} at "
                            f"{when.isoformat()} {why}. Raised automatically from the terminal's "
                            "gate and badge export."),
            "observed_at": rfc3339(when),
            "location": location,
            "persons": [{key: value for key, value in (
                ("name", holder), ("employer", row["employer"].strip()), ("badge_id", badge),
                ("role", "EMPLOYEE")) if value}],
            "reporter": reporter,
        }
        return item
    if event == "GATE":
        container = row["container"].strip().upper().replace(" ", "")
        if not container:
            raise LineError("container: is required for a GATE event")
        flag = settings.flagged.get(container[:10])
        if flag is None:
            return None
        direction = row["direction"].strip().upper()
        moved = {"OUT": "left the terminal", "IN": "entered the terminal"}.get(direction, "passed the gate")
        truck, haulier = row["truck"].strip(), row["haulier"].strip()
        item = envelope(settings, line, when)
        container_json = {"number": container, "terminal": terminal}
        if flag.category == "PIN_CODE_FRAUD":
            container_json["pin_release_status"] = "PIN_COMPROMISED"
        item["alert"] = {
            "category": flag.category,
            "severity": flag.severity,
            "title": f"Flagged container {container} {moved} at {local}"
                     + (f" on truck {truck}" if truck else ""),
            "description": (f"{flag.reason}. Gate transaction at "
                            f"{location['description'] or 'the gate'} at {when.isoformat()}"
                            + (f", truck {truck}" if truck else "")
                            + (f", haulier {haulier}" if haulier else "") + "."),
            "observed_at": rfc3339(when),
            "location": location,
            "containers": [container_json],
            "reporter": reporter,
        }
        if haulier:
            item["alert"]["companies"] = [{"name": haulier, "role": "HAULIER"}]
        return item
    raise LineError(f"event: {row['event']!r} is neither BADGE nor GATE")


# --- the file and the checkpoint ---------------------------------------------------


@dataclass
class Checkpoint:
    device: int = 0
    inode: int = 0
    offset: int = 0  # byte offset after the last line handled (0: from the start)
    line: int = 1  # number of that line (1 is the header)

    @staticmethod
    def load(path: str) -> "Checkpoint":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return Checkpoint()
        return Checkpoint(int(data["device"]), int(data["inode"]), int(data["offset"]),
                          int(data["line"]))

    def save(self, path: str) -> None:
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"device": self.device, "inode": self.inode, "offset": self.offset,
                       "line": self.line}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        directory = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


@dataclass
class Line:
    number: int
    text: str
    end: int  # byte offset after the line


def read_lines(path: str, checkpoint: Checkpoint, limit: int) -> Tuple[List[str], List[Line], bool]:
    """The header and up to ``limit`` complete lines after the checkpoint.

    Returns whether the file was read from its start again (it was replaced
    or truncated). A last line without its newline is left for later.
    """
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        restarted = False
        if checkpoint.offset and ((st.st_dev, st.st_ino) != (checkpoint.device, checkpoint.inode)
                                  or st.st_size < checkpoint.offset):
            restarted = True
        checkpoint.device, checkpoint.inode = st.st_dev, st.st_ino
        if restarted:
            checkpoint.offset, checkpoint.line = 0, 1
        header_line = f.readline()
        if not header_line.endswith(b"\n"):
            return [], [], restarted
        header = next(csv.reader([header_line.decode("utf-8").rstrip("\r\n")]))
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: the header lacks {', '.join(missing)}")
        if checkpoint.offset == 0:
            checkpoint.offset = f.tell()
        f.seek(checkpoint.offset)
        lines: List[Line] = []
        number = checkpoint.line
        while len(lines) < limit:
            raw = f.readline()
            if not raw.endswith(b"\n"):
                break
            number += 1
            lines.append(Line(number, raw.decode("utf-8", errors="replace").rstrip("\r\n"), f.tell()))
        return header, lines, restarted


# --- pushing -----------------------------------------------------------------------


@dataclass
class Tally:
    lines: int = 0
    alerts: int = 0
    accepted: int = 0
    held: int = 0
    refused: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return (f"{self.lines} lines read: {self.alerts} alerts ({self.accepted} accepted, "
                f"{self.held} already held, {self.refused} refused), {self.skipped} skipped")


def handle_batch(client: havengate.Client, header: List[str], lines: List[Line],
                 checkpoint: Checkpoint, checkpoint_file: str, settings: Settings,
                 tally: Tally) -> bool:
    """Pushes the alerts of ``lines``; moves the checkpoint past what was answered.

    Returns False if the gateway did not answer every alert (the checkpoint
    then stops before the first unanswered one).
    """
    alerts: List[dict] = []
    alert_lines: List[Line] = []
    skipped: Dict[int, str] = {}  # line number -> why
    for line in lines:
        if not line.text.strip():
            continue
        values = next(csv.reader([line.text]))
        if len(values) != len(header):
            skipped[line.number] = f"expected {len(header)} fields, found {len(values)}"
            continue
        try:
            alert = alert_for(dict(zip(header, values)), line.text, settings)
        except LineError as e:
            skipped[line.number] = str(e)
            continue
        if alert is not None:
            alerts.append(alert)
            alert_lines.append(line)

    answered = 0
    complete = True
    try:
        for result in (client.push_stream(alerts) if alerts else []):
            line = alert_lines[result.index]
            answered = result.index + 1
            if result.ok and result.receipt.duplicate:
                tally.held += 1
                print(f"line {line.number}: already held {result.item_id} "
                      f"(cursor {result.receipt.cursor})", flush=True)
            elif result.ok:
                tally.accepted += 1
                print(f"line {line.number}: accepted {result.item_id} "
                      f"(cursor {result.receipt.cursor})", flush=True)
            else:
                tally.refused += 1
                log(f"line {line.number}: refused: {result.error.code.name}: {result.error.message}")
    except havengate.HavengateError as e:
        log(f"the gateway did not take the alerts: {e}")
        complete = False
    # Every line before the first unanswered alert is handled.
    if answered < len(alert_lines):
        complete = False
        first_open = alert_lines[answered].number
        handled = [line for line in lines if line.number < first_open]
    else:
        handled = lines
    # Only handled lines count (and are reported): the others are read again.
    for line in handled:
        if line.number in skipped:
            log(f"line {line.number}: skipped: {skipped[line.number]}")
    tally.lines += len(handled)
    tally.skipped += sum(1 for line in handled if line.number in skipped)
    tally.alerts += sum(1 for line in alert_lines if handled and line.number <= handled[-1].number)
    if handled:
        checkpoint.offset, checkpoint.line = handled[-1].end, handled[-1].number
        checkpoint.save(checkpoint_file)
    return complete


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Push alerts for out-of-hours badge use and flagged containers at the gate, "
                    "from a terminal's CSV export of gate and badge events.")
    parser.add_argument("events", help="the CSV export (see samples/terminal-events.csv)")
    parser.add_argument("--flagged", help="flagged containers (CSV: number,category,severity,reason)")
    parser.add_argument("--checkpoint", help="checkpoint file (default EVENTS.csv.checkpoint)")
    parser.add_argument("--follow", action="store_true",
                        help="keep reading new lines until SIGTERM/SIGINT")
    parser.add_argument("--poll-interval", type=float, default=2.0,
                        help="seconds between looks at the file with --follow (default 2)")
    parser.add_argument("--source", default="gatefeed",
                        help="prefix of the item ids, one per feed (default gatefeed)")
    parser.add_argument("--unlocode", default="NLRTM", help="UN/LOCODE of the port (default NLRTM)")
    parser.add_argument("--grace", type=int, default=30,
                        help="minutes before and after a shift a badge may be used (default 30)")
    parser.add_argument("--tlp", default="AMBER", choices=["CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED"])
    parser.add_argument("--handling-code", default="H1", choices=["H0", "H1", "H2", "H3"])
    parser.add_argument("--reporter-unit", default="Port security desk",
                        help="the unit named as reporter of the alerts")
    parser.add_argument("--batch", type=int, default=500, help="lines per push stream (default 500)")
    havengate.add_connection_arguments(parser)
    args = parser.parse_args(argv)

    try:
        flagged = read_flagged(args.flagged) if args.flagged else {}
    except (OSError, ValueError) as e:
        log(f"gate_badge_alerts: {e}")
        return 2
    settings = Settings(args.source, args.unlocode, args.grace, args.tlp, args.handling_code,
                        args.reporter_unit, flagged)
    checkpoint_file = args.checkpoint or f"{args.events}.checkpoint"
    try:
        client = havengate.Client(havengate.connection_from_arguments(args))
    except havengate.HavengateError as e:
        log(f"gate_badge_alerts: {e.message}")
        return 2

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    tally = Tally()
    delay = args.poll_interval
    with client:
        while True:
            checkpoint = Checkpoint.load(checkpoint_file)
            try:
                header, lines, restarted = read_lines(args.events, checkpoint, args.batch)
            except (OSError, ValueError) as e:
                log(f"gate_badge_alerts: {e}")
                if not args.follow:
                    return 2
                lines, restarted = [], False
            if restarted:
                log(f"{args.events} was replaced or truncated; reading it from the start "
                    "(lines sent before are already held)")
            complete = True
            if lines:
                complete = handle_batch(client, header, lines, checkpoint, checkpoint_file,
                                        settings, tally)
            if not args.follow:
                if not complete:
                    print(f"{args.events}: {tally}", flush=True)
                    return 1
                if len(lines) == args.batch:
                    continue  # more to read
                print(f"{args.events}: {tally}", flush=True)
                return 0
            if stop.is_set():
                print(f"{args.events}: {tally}", flush=True)
                return 0
            if lines and complete and len(lines) == args.batch:
                continue
            # Wait for new lines, or longer while the gateway is unreachable.
            delay = args.poll_interval if complete else min(max(delay, args.poll_interval) * 2, 60.0)
            if stop.wait(delay):
                print(f"{args.events}: {tally}", flush=True)
                return 0


if __name__ == "__main__":
    sys.exit(main())
