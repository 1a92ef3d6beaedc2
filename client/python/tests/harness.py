"""Real gateways for the Python client's tests.

Organisations with their own CA and certificates issued by ``havenctl pki``,
``havengate`` processes on 127.0.0.1 with configs like
``deploy/gateway.example.yaml``, and waiting on conditions with deadlines
instead of sleeping. Mirrors tests/testing/harness.h of the C++ tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, TypeVar

import havengate

SOURCE_DIR = os.environ.get("HAVENGATE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BINARY_DIR = os.environ.get("HAVENGATE_BINARY_DIR") or os.path.join(SOURCE_DIR, "build")
HAVENGATE = os.path.join(BINARY_DIR, "server", "havengate")
HAVENCTL = os.path.join(BINARY_DIR, "client", "havenctl")
# Debian's interpreter: the one python3-grpcio is installed for.
PYTHON = "/usr/bin/python3"

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str = "a condition") -> T:
    """Polls ``condition`` until it returns something true; returns it. Fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (peers need it before the gateway starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv: Sequence[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Runs a command, capturing its output as text."""
    result = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def havenctl(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return run([HAVENCTL, *args], check=check, **kwargs)


@dataclass
class Org:
    """One organisation: its CA and the certificates of its gateway, a client and an officer."""

    id: str
    domain: str
    dir: str

    @property
    def ca_dir(self) -> str:
        return os.path.join(self.dir, "ca")

    @property
    def ca_file(self) -> str:
        return os.path.join(self.ca_dir, "ca.crt")

    @property
    def crl_file(self) -> str:
        return os.path.join(self.ca_dir, "crl.pem")

    @property
    def gateway_id(self) -> str:
        return f"spiffe://{self.domain}/gateway"

    def cert(self, kind: str, name: str) -> str:
        return os.path.join(self.dir, kind, f"{name}.crt")

    def key(self, kind: str, name: str) -> str:
        return os.path.join(self.dir, kind, f"{name}.key")

    @property
    def client_cert(self) -> str:
        return self.cert("clients", "integration")

    @property
    def client_key(self) -> str:
        return self.key("clients", "integration")

    @property
    def officer_cert(self) -> str:
        return self.cert("officers", "duty-officer")

    @property
    def officer_key(self) -> str:
        return self.key("officers", "duty-officer")

    def issue(self, role: str, name: str, out: str) -> None:
        """Issues another certificate into ``<dir>/<out>/<name>.crt|key``."""
        havenctl("pki", "issue", "--ca-dir", self.ca_dir, "--role", role, "--name", name,
                 "--out", os.path.join(self.dir, out))

    def options(self, port: int, **overrides) -> havengate.ConnectionOptions:
        values = dict(address=f"127.0.0.1:{port}", certificate=self.client_cert,
                      private_key=self.client_key, ca=self.ca_file, gateway_id=self.gateway_id,
                      timeout=20.0)
        values.update(overrides)
        return havengate.ConnectionOptions(**values)

    def connection_file(self, port: int, path: Optional[str] = None, **overrides: str) -> str:
        """Writes a havenctl connection file (absolute paths) and returns its path."""
        values = dict(address=f"127.0.0.1:{port}", certificate=self.client_cert,
                      private_key=self.client_key, ca=self.ca_file, gateway_id=self.gateway_id)
        values.update(overrides)
        path = path or os.path.join(self.dir, "havenctl.yaml")
        with open(path, "w", encoding="utf-8") as f:
            for key, value in values.items():
                f.write(f"{key}: {value}\n")
        return path


def create_org(root: str, org_id: str, domain: str) -> Org:
    """``<root>/<org_id>`` with a CA (``havenctl pki init-ca``) and gateway, client and officer certificates."""
    org = Org(org_id, domain, os.path.join(root, org_id))
    os.makedirs(org.dir)
    havenctl("pki", "init-ca", "--org", org_id, "--domain", domain, "--dir", org.ca_dir)
    havenctl("pki", "issue", "--ca-dir", org.ca_dir, "--role", "gateway", "--out",
             os.path.join(org.dir, "gateway"), "--dns", "localhost")
    org.issue("client", "integration", "clients")
    org.issue("officer", "duty-officer", "officers")
    return org


def install_deploy_policy(org: Org, deploy_org: Optional[str] = None) -> str:
    """Copies deploy/policies/<org>/policy.yaml into the org and creates its key files."""
    source = os.path.join(SOURCE_DIR, "deploy", "policies", deploy_org or org.id, "policy.yaml")
    directory = os.path.join(org.dir, "policy")
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, "policy.yaml")
    with open(source, encoding="utf-8") as f, open(target, "w", encoding="utf-8") as out:
        out.write(f.read())
    havenctl("policy", "keygen", target)
    return target


@dataclass
class Peer:
    org: Org
    port: int


class Gateway:
    """A ``havengate`` process of one organisation, on 127.0.0.1. Its stderr goes to gateway.log."""

    def __init__(self, org: Org, port: Optional[int] = None, peers: Sequence[Peer] = (),
                 policy: Optional[str] = None, extra_yaml: str = "") -> None:
        self.org = org
        self.port = port or free_port()
        self.config_file = os.path.join(org.dir, "gateway.yaml")
        self.port_file = os.path.join(org.dir, "gateway.port")
        self.log_file = os.path.join(org.dir, "gateway.log")
        self.store_file = os.path.join(org.dir, "data", "gateway.db")
        self.process: Optional[subprocess.Popen] = None
        os.makedirs(os.path.dirname(self.store_file), exist_ok=True)
        lines = [
            f"organisation: {{id: {org.id}, domain: {org.domain}}}",
            f"listen: 127.0.0.1:{self.port}",
            f"port_file: {self.port_file}",
            "tls:",
            f"  certificate: {org.cert('gateway', 'gateway')}",
            f"  private_key: {org.key('gateway', 'gateway')}",
            f"  ca: {org.ca_file}",
            f"  crl: {org.crl_file}",
            "  reload_interval_seconds: 1",
            f"store: {{path: {self.store_file}}}",
            "log: {format: text}",
        ]
        if policy:
            lines.append(f"policy: {policy}")
        if peers:
            lines.append("peers:")
            for peer in peers:
                lines.append(f"  - {{id: {peer.org.id}, domain: {peer.org.domain}, "
                             f"address: localhost:{peer.port}, ca: {peer.org.ca_file}, "
                             f"crl: {peer.org.crl_file}}}")
        with open(self.config_file, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n" + extra_yaml)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> "Gateway":
        """Starts the process and returns once it listens (its port file appears)."""
        if self.running:
            raise AssertionError("the gateway is already running")
        if os.path.exists(self.port_file):
            os.remove(self.port_file)
        with open(self.log_file, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen([HAVENGATE, "--config", self.config_file],
                                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)

        def listening() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway of {self.org.id} exited with "
                                     f"{self.process.returncode}:\n{self.log()[-3000:]}")
            return os.path.exists(self.port_file)

        wait_for(listening, timeout, f"the gateway of {self.org.id} to listen")
        return self

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the gateway of {self.org.id} did not stop within {timeout:g} s")

    def kill9(self) -> None:
        """SIGKILL and reap: no chance to flush anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stops the process if it runs (SIGTERM, SIGKILL if it does not stop)."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log(self) -> str:
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def load_sample(name: str) -> dict:
    """A sample item of deploy/samples as a dict (what havenctl items push reads)."""
    with open(os.path.join(SOURCE_DIR, "deploy", "samples", name), encoding="utf-8") as f:
        return json.load(f)


def alert(item_id: str, **alert_fields) -> dict:
    """A valid alert (the badge sample of deploy/samples) with its own id and the given fields."""
    item = load_sample("badge_out_of_hours.json")
    item["item_id"] = item_id
    item.pop("origin", None)  # the gateway sets it from the certificate
    item["alert"].update(alert_fields)
    return item


def inbox_ids(client: havengate.Client, **filter_args) -> List[str]:
    """The item ids in the inbox, newest first."""
    return [entry.item.item_id for entry in client.list(filter_args or None)]
