"""The worked integrations of deploy/integrations, end to end against real gateways:
gate_badge_alerts.py (a terminal's CSV export -> alerts) and inbox_to_folder.py
(the inbox -> a case system's folder), in a port-rtm -> police-nl federation
running the deploy/ policies."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import Dict, Iterator, List

import pytest
import yaml

import harness
import havengate

INTEGRATIONS = os.path.join(harness.SOURCE_DIR, "deploy", "integrations")
TAILER = os.path.join(INTEGRATIONS, "gate_badge_alerts.py")
WATCHER = os.path.join(INTEGRATIONS, "inbox_to_folder.py")
EVENTS = os.path.join(INTEGRATIONS, "samples", "terminal-events.csv")
FLAGGED = os.path.join(INTEGRATIONS, "samples", "flagged-containers.csv")

# File line numbers (1: the header) of the sample lines that raise alerts.
BADGE_0248, BADGE_0305, PIN_GATE, NOT_ROSTERED, SCAN_GATE, MISREAD_GATE, BAD_TIME = 7, 8, 9, 10, 12, 13, 15
ACCEPTED = [BADGE_0248, BADGE_0305, PIN_GATE, NOT_ROSTERED, SCAN_GATE]
TO_POLICE = [BADGE_0248, BADGE_0305, PIN_GATE, NOT_ROSTERED]  # port-rtm's policy keeps the scan
LATE_BADGE = ("2026-11-28T22:14:05+01:00,Rotterdam World Gateway,BADGE,Reefer stack gate R3,"
              "RWG-20931,Kevin Brouwer,Rotterdam World Gateway,07:00-15:00,,,,")


def sample_lines() -> List[str]:
    with open(EVENTS, encoding="utf-8") as f:
        return f.read().splitlines()


def line_id(text: str) -> str:
    return "gatefeed-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def sample_id(number: int) -> str:
    return line_id(sample_lines()[number - 1])


def run_tailer(events: str, connection: str, *extra: str) -> subprocess.CompletedProcess:
    return harness.run([harness.PYTHON, TAILER, events, "--flagged", FLAGGED, "--connection",
                        connection, *extra], check=False, timeout=120)


class Program:
    """An integration running in the background, its output in a file."""

    def __init__(self, argv: List[str], output: str) -> None:
        self.output = output
        with open(output, "w", encoding="utf-8") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)

    def lines(self) -> List[str]:
        with open(self.output, encoding="utf-8") as f:
            return f.read().splitlines()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.process.args[1]} did not stop on SIGTERM:\n"
                                 + "\n".join(self.lines()))


@pytest.fixture
def programs() -> Iterator[List[Program]]:
    started: List[Program] = []
    yield started
    for program in started:
        if program.process.poll() is None:
            program.process.kill()
            program.process.wait()


def start_watcher(programs: List[Program], org: harness.Org, port: int, out: str, log: str,
                  *extra: str) -> Program:
    program = Program([harness.PYTHON, WATCHER, "--out", out, "--connection",
                       org.connection_file(port), *extra], log)
    programs.append(program)
    harness.wait_for(lambda: any(l.startswith("watching the inbox") for l in program.lines())
                     or program.process.poll() is not None, 30, "the watcher to start")
    assert program.process.poll() is None, "\n".join(program.lines())
    return program


def json_files(folder: str) -> List[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))


@dataclass
class Federation:
    orgs: Dict[str, harness.Org]
    port: harness.Gateway
    police: harness.Gateway


@pytest.fixture
def federation(workdir: str) -> Iterator[Federation]:
    """port-rtm and police-nl running with their deploy/ policies; their other partners are configured, not running."""
    domains = {"port-rtm": "portofrotterdam.example", "police-nl": "police.nl.example",
               "customs-nl": "customs.nl.example", "police-be": "police.be.example",
               "police-ec": "policia.ec.example"}
    orgs = {org_id: harness.create_org(workdir, org_id, domain) for org_id, domain in domains.items()}
    ports = {org_id: harness.free_port() for org_id in orgs}
    gateways = {}
    for org_id in ("port-rtm", "police-nl"):
        policy = harness.install_deploy_policy(orgs[org_id])
        with open(policy, encoding="utf-8") as f:
            partners = [p["id"] for p in yaml.safe_load(f)["partners"]]
        gateways[org_id] = harness.Gateway(orgs[org_id], ports[org_id], policy=policy,
                                           peers=[harness.Peer(orgs[p], ports[p]) for p in partners])
    try:
        for gateway in gateways.values():
            gateway.start()
        yield Federation(orgs, gateways["port-rtm"], gateways["police-nl"])
    finally:
        for gateway in gateways.values():
            gateway.stop()


def test_alerts_from_the_terminal_export_reach_the_police_case_folder(
        federation: Federation, workdir: str, programs: List[Program]) -> None:
    port_rtm, police = federation.orgs["port-rtm"], federation.orgs["police-nl"]
    events = os.path.join(workdir, "events.csv")
    shutil.copyfile(EVENTS, events)
    case = os.path.join(workdir, "case")
    watcher = start_watcher(programs, police, federation.police.port, case,
                            os.path.join(workdir, "watcher.log"), "--exclude-origin", "police-nl")

    result = run_tailer(events, port_rtm.connection_file(federation.port.port))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"line {n}: accepted {sample_id(n)} (cursor {cursor})" for cursor, n in enumerate(ACCEPTED, 1)
    ] + [f"{events}: 15 lines read: 6 alerts (5 accepted, 0 already held, 1 refused), 1 skipped"]
    assert result.stderr.splitlines() == [
        f"line {MISREAD_GATE}: refused: INVALID_ARGUMENT: alert.containers[0].number: "
        "check digit is 5, expected 4 (ISO 6346)",
        f"line {BAD_TIME}: skipped: timestamp: '28-11-2026 13:10' is not an ISO 8601 time",
    ]

    # At the port: the five alerts, each built from its line alone.
    with havengate.Client(port_rtm.options(federation.port.port)) as client:
        held = {e.item.item_id: havengate.to_dict(e.item) for e in client.list()}
    assert set(held) == {sample_id(n) for n in ACCEPTED}
    assert held[sample_id(BADGE_0248)] == {
        "item_id": sample_id(BADGE_0248), "version": 1, "origin": "port-rtm",
        "created_at": "2026-11-28T01:48:12Z",
        "classification": {"tlp": "AMBER", "handling_code": "H1"},
        "alert": {
            "category": "UNAUTHORISED_ACCESS", "severity": "MEDIUM",
            "title": "Badge RWG-20931 used at 02:48 outside the holder's shift (07:00-15:00)",
            "description": "Port access system: badge RWG-20931 (Kevin Brouwer, Rotterdam World "
                           "Gateway) was used at Reefer stack gate R3 at 2026-11-28T02:48:12+01:00 "
                           "outside the holder's shift (07:00-15:00). Raised automatically from the "
                           "terminal's gate and badge export.",
            "observed_at": "2026-11-28T01:48:12Z",
            "location": {"unlocode": "NLRTM", "terminal": "Rotterdam World Gateway",
                         "description": "Reefer stack gate R3"},
            "persons": [{"name": "Kevin Brouwer", "employer": "Rotterdam World Gateway",
                         "badge_id": "RWG-20931", "role": "EMPLOYEE"}],
            "reporter": {"name": "Gate and badge feed", "unit": "Port security desk"},
        },
    }
    assert held[sample_id(PIN_GATE)]["alert"] == {
        "category": "PIN_CODE_FRAUD", "severity": "HIGH",
        "title": "Flagged container TGHU9182731 left the terminal at 03:31 on truck 71-VTR-2",
        "description": "Release PIN reported stolen by the shipping line on 2026-11-27. Gate "
                       "transaction at Truck gate lane 6 at 2026-11-28T03:31:09+01:00, truck "
                       "71-VTR-2, haulier Maasvlakte Haulage.",
        "observed_at": "2026-11-28T02:31:09Z",
        "location": {"unlocode": "NLRTM", "terminal": "Rotterdam World Gateway",
                     "description": "Truck gate lane 6"},
        "containers": [{"number": "TGHU9182731", "terminal": "Rotterdam World Gateway",
                        "pin_release_status": "PIN_COMPROMISED"}],
        "companies": [{"name": "Maasvlakte Haulage", "role": "HAULIER"}],
        "reporter": {"name": "Gate and badge feed", "unit": "Port security desk"},
    }
    assert held[sample_id(NOT_ROSTERED)]["alert"]["title"] == \
        "Badge RWG-18820 used at 05:58 by a holder not rostered that day"
    assert held[sample_id(SCAN_GATE)]["alert"]["category"] == "SUSPICIOUS_CONTAINER"

    # A later line, pushed after the others: once it is in the case folder,
    # everything the port shared before it is too (one ordered link).
    with open(events, "a", encoding="utf-8") as f:
        f.write(LATE_BADGE + "\n")
    again = run_tailer(events, port_rtm.connection_file(federation.port.port))
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[0] == f"line 17: accepted {line_id(LATE_BADGE)} (cursor 6)"
    late_file = f"port-rtm_{line_id(LATE_BADGE)}_v1.json"
    harness.wait_for(lambda: late_file in json_files(case), 60, "the late alert in the case folder")

    # At the police: what port-rtm's policy shares with them (access
    # signals and PIN fraud, not the customs scan), one file each.
    assert json_files(case) == sorted(
        [f"port-rtm_{sample_id(n)}_v1.json" for n in TO_POLICE] + [late_file])
    with open(os.path.join(case, f"port-rtm_{sample_id(BADGE_0248)}_v1.json"), encoding="utf-8") as f:
        received = json.load(f)
    provenance = received["item"].pop("provenance")
    assert received["item"] == held[sample_id(BADGE_0248)]
    assert [(hop["organisation"], hop["gateway"], hop["released_to"]) for hop in provenance] == [
        ("port-rtm", "spiffe://portofrotterdam.example/gateway", "police-nl")]
    assert received["received_from"] == "port-rtm"

    assert watcher.stop() == 0
    with havengate.Client(police.options(federation.police.port)) as client:
        cursors = [e.cursor for e in client.list()]
    with open(os.path.join(case, ".havengate-cursor.json"), encoding="utf-8") as f:
        assert json.load(f) == {"cursor": max(cursors)}
    wrote = [line for line in watcher.lines() if line.startswith("wrote ")]
    assert len(wrote) == 5


def test_the_same_line_gives_one_item_and_a_restart_resends_nothing(
        police: harness.Org, gateway: harness.Gateway, client: havengate.Client, workdir: str) -> None:
    events = os.path.join(workdir, "events.csv")
    shutil.copyfile(EVENTS, events)
    connection = police.connection_file(gateway.port)
    checkpoint = events + ".checkpoint"

    first = run_tailer(events, connection)
    assert first.returncode == 0, first.stdout + first.stderr
    assert len([l for l in first.stdout.splitlines() if ": accepted " in l]) == 5
    with open(checkpoint, encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["offset"] == os.path.getsize(events) and saved["line"] == 16

    # Run again: the checkpoint says everything was handled.
    second = run_tailer(events, connection)
    assert second.returncode == 0
    assert second.stdout.splitlines() == [
        f"{events}: 0 lines read: 0 alerts (0 accepted, 0 already held, 0 refused), 0 skipped"]
    assert second.stderr == ""

    # The export repeats a line, and a new one follows.
    with open(events, "a", encoding="utf-8") as f:
        f.write(sample_lines()[BADGE_0248 - 1] + "\n" + LATE_BADGE + "\n")
    third = run_tailer(events, connection)
    assert third.returncode == 0, third.stdout + third.stderr
    assert third.stdout.splitlines() == [
        f"line 17: already held {sample_id(BADGE_0248)} (cursor 1)",
        f"line 18: accepted {line_id(LATE_BADGE)} (cursor 6)",
        f"{events}: 2 lines read: 2 alerts (1 accepted, 1 already held, 0 refused), 0 skipped"]
    ids = harness.inbox_ids(client)
    assert len(ids) == 6 and len(set(ids)) == 6

    # Without its checkpoint everything is sent again, and held once.
    os.remove(checkpoint)
    fourth = run_tailer(events, connection)
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    assert fourth.stdout.splitlines()[-1] == (
        f"{events}: 17 lines read: 8 alerts (0 accepted, 7 already held, 1 refused), 1 skipped")
    assert sorted(harness.inbox_ids(client)) == sorted(ids)

    # A rotated export (a new file in its place) is read from its start.
    rotated = events + ".new"
    with open(rotated, "w", encoding="utf-8") as f:
        f.write(sample_lines()[0] + "\n" + LATE_BADGE.replace("22:14:05", "23:01:40") + "\n")
    os.replace(rotated, events)
    fifth = run_tailer(events, connection)
    assert fifth.returncode == 0, fifth.stdout + fifth.stderr
    assert "was replaced or truncated; reading it from the start" in fifth.stderr
    assert fifth.stdout.splitlines()[0].startswith("line 2: accepted gatefeed-")
    assert len(harness.inbox_ids(client)) == 7


def test_the_tailer_follows_the_export_and_rides_out_a_gateway_restart(
        police: harness.Org, gateway: harness.Gateway, client: havengate.Client, workdir: str,
        programs: List[Program]) -> None:
    events = os.path.join(workdir, "events.csv")
    shutil.copyfile(EVENTS, events)
    tailer = Program([harness.PYTHON, TAILER, events, "--flagged", FLAGGED, "--follow",
                      "--poll-interval", "0.1", "--connection", police.connection_file(gateway.port)],
                     os.path.join(workdir, "tailer.log"))
    programs.append(tailer)
    harness.wait_for(lambda: len(harness.inbox_ids(client)) == 5, 60, "the sample's five alerts")

    with open(events, "a", encoding="utf-8") as f:
        f.write(LATE_BADGE + "\n")
    harness.wait_for(lambda: line_id(LATE_BADGE) in harness.inbox_ids(client), 60, "the appended alert")

    # The gateway goes away; a line arrives meanwhile; it is pushed once the
    # gateway is back.
    gateway.kill9()
    during = LATE_BADGE.replace("22:14:05", "23:55:00")
    with open(events, "a", encoding="utf-8") as f:
        f.write(during + "\n")
    harness.wait_for(lambda: any("the gateway did not take the alerts" in l for l in tailer.lines()),
                     60, "the tailer to notice the gateway is gone")
    gateway.start()
    harness.wait_for(lambda: line_id(during) in harness.inbox_ids(client), 90,
                     "the alert written while the gateway was down")

    assert tailer.stop() == 0
    assert tailer.lines()[-1] == (
        f"{events}: 17 lines read: 8 alerts (7 accepted, 0 already held, 1 refused), 1 skipped")
    with open(events + ".checkpoint", encoding="utf-8") as f:
        assert json.load(f)["offset"] == os.path.getsize(events)
    assert len(harness.inbox_ids(client)) == 7


def test_the_inbox_watcher_resumes_after_its_cursor(
        police: harness.Org, gateway: harness.Gateway, client: havengate.Client, workdir: str,
        programs: List[Program]) -> None:
    case = os.path.join(workdir, "case")
    client.push(harness.alert("case-1"))
    client.push(harness.alert("case-2"))
    first = start_watcher(programs, police, gateway.port, case, os.path.join(workdir, "first.log"))
    harness.wait_for(lambda: len(json_files(case)) == 2, 30, "two files")
    assert first.stop() == 0
    assert json_files(case) == ["police-nl_case-1_v1.json", "police-nl_case-2_v1.json"]
    with open(os.path.join(case, "police-nl_case-2_v1.json"), encoding="utf-8") as f:
        entry = json.load(f)
    assert entry["cursor"] == "2" and entry["received_from"] == "police-nl"
    assert entry["item"] == dict(harness.alert("case-2"), origin="police-nl", version=1)

    # While it is stopped: a new item and a retraction.
    client.push(harness.alert("case-3"))
    client.retract("case-1", "information proved false")
    second = start_watcher(programs, police, gateway.port, case, os.path.join(workdir, "second.log"))
    harness.wait_for(lambda: len(json_files(case)) == 4, 30, "four files")
    # And across a gateway restart.
    gateway.kill9()
    gateway.start()
    client.push(harness.alert("case-4"))
    harness.wait_for(lambda: len(json_files(case)) == 5, 60, "the item pushed after the restart")
    assert second.stop() == 0

    assert [l for l in second.lines() if l.startswith("wrote ")] == [
        f"wrote {os.path.join(case, 'police-nl_case-3_v1.json')} (cursor 3)",
        f"wrote {os.path.join(case, 'police-nl_case-1_retracted.json')} (cursor 4)",
        f"wrote {os.path.join(case, 'police-nl_case-4_v1.json')} (cursor 5)"]
    with open(os.path.join(case, "police-nl_case-1_retracted.json"), encoding="utf-8") as f:
        retraction = json.load(f)
    assert retraction["cursor"] == "4"
    assert {k: retraction["retraction"][k] for k in ("origin", "item_id", "reason", "kind", "decided_by")} == {
        "origin": "police-nl", "item_id": "case-1", "reason": "information proved false",
        "kind": "RETRACTED_BY_ORIGIN", "decided_by": "police-nl"}
    with open(os.path.join(case, ".havengate-cursor.json"), encoding="utf-8") as f:
        assert json.load(f) == {"cursor": 5}
