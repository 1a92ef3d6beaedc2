#!/usr/bin/env python3
"""Helpers of deploy/demo/run-demo.sh (Python 3 standard library only).

  demo.py free-ports N
      N free TCP ports on 127.0.0.1, space-separated.
  demo.py partners POLICY.yaml
      The partner ids the policy's `partners:` list names.
  demo.py as-pushed ITEM.json OUT.json
      Writes the item as its origin's integration client pushes it: without
      provenance (gateways fill it in), and with an `expires_at` that has
      passed moved as far into the future as it was after `created_at`.
      Prints its origin and item id.
  demo.py settle --havenctl H --dir D --timeout S ORG...
      Waits until every share the organisations' gateways decided to make
      has an outcome in the sender's audit log (delivered, refused or
      expired) and the inboxes stop changing; exit 1 on timeout.
  demo.py side-by-side --original ITEM.json --sender ORG PARTNER=INBOX.jsonl...
      The table of field paths x partners: what each received of the item.
  demo.py matrix --items ITEM.json... ORG=INBOX.jsonl...
      Items x organisations: how many fields of each item each one holds.
  demo.py summary --havenctl H --dir D --pushed N ORG...
      Items pushed, deliveries, released and withheld fields (audit).
  demo.py retractions < AUDIT.jsonl
      The retraction records of `havenctl audit export` output.
  demo.py wrap < TEXT
      Wraps long lines (hanging indent).

INBOX.jsonl files hold `havenctl items list --json` output.
"""

import argparse
import datetime
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time

# Output width of wrapped text.
WRAP = 120

# --- small commands ----------------------------------------------------------


def free_ports(count):
    sockets = []
    try:
        for _ in range(int(count)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        print(" ".join(str(s.getsockname()[1]) for s in sockets))
    finally:
        for s in sockets:
            s.close()


def partners(policy_file):
    """Partner ids from the top-level `partners:` list, in either YAML form
    the deploy policies use (`- id: x` or `- {id: x, ...}`)."""
    ids = []
    inside = False
    with open(policy_file, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^[A-Za-z_]", line):
                inside = line.startswith("partners:")
                continue
            if inside:
                m = re.match(r"^\s*-\s*\{?\s*id:\s*[\"']?([A-Za-z0-9._-]+)", line)
                if m:
                    ids.append(m.group(1))
    if not ids:
        sys.exit(f"{policy_file}: no partners found")
    print(" ".join(ids))


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def parse_time(text):
    """An RFC 3339 timestamp as an aware datetime, or None."""
    if not isinstance(text, str):
        return None
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", text)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)


def format_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_pushed(item_file, out_file):
    item = load(item_file)
    item.pop("provenance", None)
    now = datetime.datetime.now(datetime.timezone.utc)
    created = parse_time(item.get("created_at"))
    expires = parse_time(item.get("expires_at"))
    if created and expires and expires <= now:
        item["expires_at"] = format_time(now + (expires - created))
    with open(out_file, "w", encoding="utf-8") as out:
        json.dump(item, out, indent=2, ensure_ascii=False)
        out.write("\n")
    print(item.get("origin", ""), item.get("item_id", ""))


# --- reading gateways ------------------------------------------------------


def run(args):
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def audit_events(records):
    """The events the exported records stand for: a SHARES_DECIDED record
    as one SHARE_DECIDED per partner, an ITEMS_DELIVERED record as one
    ITEM_DELIVERED per item (as proto/audit_views.h reads them)."""
    for r in records:
        common = {k: v for k, v in r.items()
                  if k not in ("decisions", "deliveries", "hash",
                               "previous_hash")}
        if r.get("type") == "SHARES_DECIDED":
            for d in r.get("decisions", []):
                yield {**common, **d, "type": "SHARE_DECIDED"}
        elif r.get("type") == "ITEMS_DELIVERED":
            for d in r.get("deliveries", []):
                yield {**common, **d, "type": "ITEM_DELIVERED"}
        else:
            yield r


def audit_records(havenctl, demo_dir, org):
    store = f"{demo_dir}/{org}/data/gateway.db"
    return list(audit_events(json_lines(
        run([havenctl, "audit", "export", "--store", store]))))


def inbox(havenctl, demo_dir, org):
    return json_lines(run([havenctl, "items", "list", "--all", "--json",
                           "--connection", f"{demo_dir}/{org}/havenctl.yaml"]))


def share_key(record):
    item = record.get("item", {})
    return (item.get("origin"), item.get("item_id"), item.get("version", 0),
            record.get("partner"))


def pending_shares(records):
    """Shares the gateway decided to make that have no outcome yet."""
    released = set()
    settled = set()
    for r in records:
        kind = r.get("type")
        if kind == "SHARE_DECIDED" and r.get("released"):
            released.add(share_key(r))
        elif kind in ("ITEM_DELIVERED", "DELIVERY_REFUSED", "DELIVERY_EXPIRED"):
            settled.add(share_key(r))
    return sorted(released - settled)


def settle(argv):
    parser = argparse.ArgumentParser(prog="demo.py settle")
    parser.add_argument("--havenctl", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("orgs", nargs="+")
    args = parser.parse_args(argv)
    start = time.monotonic()
    previous = None
    last_report = 0.0
    while True:
        pending = {}
        counts = {}
        for org in args.orgs:
            pending[org] = pending_shares(audit_records(args.havenctl, args.dir, org))
            counts[org] = len(inbox(args.havenctl, args.dir, org))
        waiting = sum(len(p) for p in pending.values())
        elapsed = time.monotonic() - start
        # Two polls in a row: a gateway read early in a poll may have
        # decided a relay (and so a new share) after a later one's delivery.
        if waiting == 0 and previous == (0, counts):
            held = ", ".join(f"{org} {n}" for org, n in counts.items())
            print(f"    settled after {elapsed:.1f}s; inboxes hold: {held}")
            return 0
        if elapsed > args.timeout:
            print(f"deliveries did not settle within {args.timeout:.0f}s; "
                  f"still pending:", file=sys.stderr)
            for org, shares in pending.items():
                for origin, item_id, version, partner in shares:
                    print(f"  {org} -> {partner}: {origin}/{item_id} v{version}",
                          file=sys.stderr)
            return 1
        if waiting and elapsed - last_report >= 1.0:
            last_report = elapsed
            print(f"    {waiting} deliveries still on their way ...")
        previous = (waiting, counts)
        time.sleep(0.3)


# --- the side-by-side table --------------------------------------------------


def body_of(item):
    for kind in ("alert", "report"):
        if kind in item:
            return kind, item[kind]
    return None, {}


def align(original, received):
    """Pairs the elements of a received list with the original ones: by
    container number or vessel IMO where both have one, else by position."""
    for key in ("number", "imo"):
        if (original and received
                and all(isinstance(e, dict) and key in e for e in original)
                and all(isinstance(e, dict) and key in e for e in received)):
            by_key = {e[key]: e for e in received}
            return [by_key.get(e[key]) for e in original]
    return [received[i] if i < len(received) else None
            for i in range(len(original))]


def flatten(original, received, prefix, rows):
    """(path, original value, received value or None) for every leaf of
    the original, in order."""
    if isinstance(original, dict):
        received = received if isinstance(received, dict) else {}
        for key, value in original.items():
            path = f"{prefix}.{key}" if prefix else key
            flatten(value, received.get(key), path, rows)
    elif isinstance(original, list):
        received = received if isinstance(received, list) else []
        for i, (o, r) in enumerate(zip(original, align(original, received))):
            flatten(o, r, f"{prefix}[{i}]", rows)
    else:
        rows.append((prefix, original, received))


def short(value, width):
    moment = parse_time(value)
    if moment:  # 2026-11-28T03:17:45Z as 11-28 03:17:45Z
        value = moment.strftime("%m-%d %H:%M:%SZ")
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def describe(original, received, width):
    """What a partner holds of one field: its value, or what was done."""
    if received is None:
        return "withheld"
    if received == original:
        return short(received, width)
    if isinstance(received, str) and received.startswith("ps:"):
        return "pseudonymised"
    if isinstance(received, (int, float)) and isinstance(original, (int, float)):
        return short(f"rounded {received}", width)
    before, after = parse_time(original), parse_time(received)
    if before and after:
        seconds = int(after.timestamp())
        if seconds % 86400 == 0:
            return short(f"to day {after.strftime('%m-%d')}", width)
        if seconds % 3600 == 0:
            return short(f"to hour {after.strftime('%H:%M')}", width)
        if seconds % 60 == 0:
            return short(f"to minute {after.strftime('%H:%M')}", width)
        return short(f"time {after.strftime('%H:%M:%S')}", width)
    if isinstance(received, str) and received.startswith("*"):
        return short(f"masked {received}", width)
    return short(f"replaced: {received}", width)


def inbox_entry(path, item_id):
    """The entry for `item_id` in a file of `havenctl items list --json`
    output, or None."""
    with open(path, encoding="utf-8") as f:
        for entry in json_lines(f.read()):
            if entry.get("item", {}).get("item_id") == item_id:
                return entry
    return None


def side_by_side(argv):
    parser = argparse.ArgumentParser(prog="demo.py side-by-side")
    parser.add_argument("--original", required=True)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("received", nargs="+", metavar="PARTNER=INBOX.jsonl")
    args = parser.parse_args(argv)
    original = load(args.original)
    kind, body = body_of(original)
    columns = []
    for spec in args.received:
        partner, _, path = spec.partition("=")
        columns.append((partner, inbox_entry(path, original["item_id"])))

    rows = []
    flatten(body, None, "", rows)
    per_partner = []
    for _, entry in columns:
        received_rows = []
        _, received_body = body_of(entry["item"]) if entry else (None, {})
        flatten(body, received_body, "", received_rows)
        per_partner.append(received_rows)

    w = args.width
    path_width = max(len(p) for p, _, _ in rows) + 1
    header = [f"{args.sender} (sent)"] + [p for p, _ in columns]
    line = (f"{'':{path_width}}" + "".join(f"  {short(h, w):{w}}" for h in header)).rstrip()
    print(f"{kind}: {original.get('item_id')} — {short(body.get('title', ''), 70)}")
    print()
    print(line)
    print(f"{'':{path_width}}" + "".join(f"  {'-' * w}" for _ in header))
    withheld = [0] * len(columns)
    changed = [0] * len(columns)
    for i, (path, value, _) in enumerate(rows):
        cells = [short(value, w)]
        for c, (_, entry) in enumerate(columns):
            if entry is None:
                cells.append("—")
                continue
            cell = describe(value, per_partner[c][i][2], w)
            if cell == "withheld":
                withheld[c] += 1
            elif per_partner[c][i][2] != value:
                changed[c] += 1
            cells.append(cell)
        print((f"{path:{path_width}}" + "".join(f"  {cell:{w}}" for cell in cells)).rstrip())
    print(f"{'':{path_width}}" + "".join(f"  {'-' * w}" for _ in header))

    def footer(label, first, values):
        print((f"{label:{path_width}}" + "".join(
            f"  {short(v, w):{w}}" for v in [first] + values)).rstrip())

    def hop(entry):
        hops = entry["item"].get("provenance", []) if entry else []
        return hops[-1] if hops else {}

    footer("received from", "—", [e["received_from"] if e else "—" for _, e in columns])
    footer("policy version", "—",
           [hop(e).get("policy_version", "—") if e else "—" for _, e in columns])
    footer("fields withheld", "—",
           [f"{withheld[c]} of {len(rows)}" if e else "all" for c, (_, e) in enumerate(columns)])
    footer("fields transformed", "—",
           [str(changed[c]) if e else "—" for c, (_, e) in enumerate(columns)])
    print()
    print("withheld = not sent to that partner; pseudonymised = a keyed code (ps:…), the same for")
    print("the same value at every partner; to minute/to hour = time truncated; rounded = position")
    print("rounded; — = the partner received nothing of this item. Times are UTC.")
    pseudonyms = {}
    for c, (partner, entry) in enumerate(columns):
        for path, _, received in per_partner[c]:
            if isinstance(received, str) and received.startswith("ps:"):
                pseudonyms.setdefault((path, received), []).append(partner)
    for (path, code), holders in sorted(pseudonyms.items()):
        if len(holders) > 1:
            print(f"{path} reaches {' and '.join(holders)} as the same pseudonym "
                  f"{code[:15]}…, so their cases link up without the name.")
    return 0


def matrix(argv):
    """Items (rows) x organisations (columns): how many of the item's fields
    each organisation holds, `origin` at the origin, `—` where nothing
    arrived."""
    parser = argparse.ArgumentParser(prog="demo.py matrix")
    parser.add_argument("--items", nargs="+", required=True, metavar="ITEM.json")
    parser.add_argument("inboxes", nargs="+", metavar="ORG=INBOX.jsonl")
    args = parser.parse_args(argv)
    orgs = [spec.partition("=") for spec in args.inboxes]
    name_width = max(len(os.path.basename(p)) for p in args.items) + 1
    w = 12
    print((f"{'item (origin)':{name_width + 12}}" +
           "".join(f"  {o:{w}}" for o, _, _ in orgs)).rstrip())
    for path in args.items:
        item = load(path)
        _, body = body_of(item)
        rows = []
        flatten(body, None, "", rows)
        cells = []
        for org, _, inbox_file in orgs:
            if org == item.get("origin"):
                cells.append("origin")
                continue
            entry = inbox_entry(inbox_file, item.get("item_id"))
            if entry is None:
                cells.append("—")
                continue
            received = []
            flatten(body, body_of(entry["item"])[1], "", received)
            held = sum(1 for _, _, r in received if r is not None)
            cells.append(f"{held}/{len(rows)} fields")
        label = f"{os.path.basename(path)} ({item.get('origin')})"
        print((f"{label:{name_width + 12}}" + "".join(f"  {c:{w}}" for c in cells)).rstrip())
    print()
    print("N/M fields = the organisation holds N of the M fields the origin pushed (a")
    print("pseudonymised or truncated field counts as held); — = it received nothing.")
    return 0


# --- summary --------------------------------------------------------------


def summary(argv):
    parser = argparse.ArgumentParser(prog="demo.py summary")
    parser.add_argument("--havenctl", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--pushed", type=int, required=True)
    parser.add_argument("orgs", nargs="+")
    args = parser.parse_args(argv)
    delivered = 0
    decisions = released = 0
    withheld_fields = transformed_fields = 0
    refusals = []
    held = []
    for org in args.orgs:
        entries = inbox(args.havenctl, args.dir, org)
        held.append(f"{org} {sum(1 for e in entries if e.get('received_from') != org)}")
        for r in audit_records(args.havenctl, args.dir, org):
            kind = r.get("type")
            if kind == "SHARE_DECIDED":
                decisions += 1
                if r.get("released"):
                    released += 1
                    withheld_fields += len(r.get("withheld_fields", []))
                    transformed_fields += len(r.get("transformed_fields", []))
            elif kind == "ITEM_DELIVERED" and r.get("detail") != "retraction":
                delivered += 1
            elif kind == "DELIVERY_REFUSED":
                item = r.get("item", {})
                refusals.append(f"{org} -> {r.get('partner')}: "
                                f"{item.get('origin')}/{item.get('item_id')} "
                                f"v{item.get('version', 0)}: {r.get('reason', '')}")

    def plural(n, word, words=None):
        return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"

    print(f"    {plural(args.pushed, 'item')} pushed by integration clients")
    print(f"    {plural(decisions, 'share decision')} (one per item and partner, at "
          f"every hop): {released} released a projected copy, "
          f"{decisions - released} released nothing")
    print(f"    {plural(delivered, 'delivery', 'deliveries')} acknowledged by partners; "
          f"{plural(len(refusals), 'delivery', 'deliveries')} refused by the receiving gateway")
    for refusal in refusals:
        print(textwrap.fill(refusal, width=WRAP, initial_indent="      ",
                            subsequent_indent="        "))
    print(f"    {plural(withheld_fields, 'field path')} withheld and "
          f"{transformed_fields} transformed in the released copies "
          f"(audit SHARE_DECIDED records)")
    print(f"    partners' inboxes now (after the retraction): {', '.join(held)}")
    return 0


def retractions():
    """The retraction records of an audit export on standard input."""
    for r in audit_events(json.loads(line) for line in sys.stdin if line.strip()):
        if r.get("type") == "ITEM_RETRACTED" or r.get("detail") == "retraction":
            what = r.get("reason") or "retraction delivered"
            print(f"    seq {r['sequence']:>3}  {r['type']:<15} "
                  f"{r.get('partner', '-'):<11} {what}")


def wrap():
    """Standard input, lines longer than the width wrapped with a hanging
    indent."""
    for line in sys.stdin:
        line = line.rstrip("\n")
        if len(line) <= WRAP:
            print(line)
        else:
            print(textwrap.fill(line, width=WRAP, subsequent_indent=" " * 8,
                                break_on_hyphens=False))


def main(argv):
    simple = {
        "free-ports": free_ports,
        "partners": partners,
        "as-pushed": as_pushed,
        "retractions": retractions,
        "wrap": wrap,
    }
    full = {"settle": settle, "side-by-side": side_by_side, "matrix": matrix,
            "summary": summary}
    if len(argv) >= 2 and argv[1] in simple:
        simple[argv[1]](*argv[2:])
        return 0
    if len(argv) >= 2 and argv[1] in full:
        try:
            return full[argv[1]](argv[2:])
        except (RuntimeError, OSError, ValueError) as e:
            print(f"demo.py {argv[1]}: {e}", file=sys.stderr)
            return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
