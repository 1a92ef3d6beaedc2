"""Fixtures: a temporary directory, an organisation, its running gateway, a client."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Iterator

import pytest

import harness
import havengate


def pytest_configure(config: pytest.Config) -> None:
    for binary in (harness.HAVENGATE, harness.HAVENCTL):
        if not os.access(binary, os.X_OK):
            raise pytest.UsageError(f"{binary} is missing: build havengate and havenctl first "
                                    "(or set HAVENGATE_BINARY_DIR)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test's report ends with the last lines of every gateway log of its workdir."""
    outcome = yield
    report = outcome.get_result()
    path = getattr(item, "havengate_workdir", None)
    if report.when == "call" and report.failed and path:
        for root, _, files in sorted(os.walk(path)):
            if "gateway.log" in files:
                with open(os.path.join(root, "gateway.log"), encoding="utf-8", errors="replace") as f:
                    tail = f.read().splitlines()[-25:]
                report.sections.append((f"last lines of {root}/gateway.log", "\n".join(tail)))


@pytest.fixture
def workdir(request: pytest.FixtureRequest) -> Iterator[str]:
    """A directory removed with its contents after the test."""
    path = tempfile.mkdtemp(prefix="havengate-python-test.")
    request.node.havengate_workdir = path
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def police(workdir: str) -> harness.Org:
    return harness.create_org(workdir, "police-nl", "police.nl.example")


@pytest.fixture
def gateway(police: harness.Org) -> Iterator[harness.Gateway]:
    """police-nl's gateway, alone (no peers, no policy)."""
    gw = harness.Gateway(police)
    try:
        yield gw.start()
    finally:
        gw.stop()


@pytest.fixture
def client(police: harness.Org, gateway: harness.Gateway) -> Iterator[havengate.Client]:
    """police-nl's integration client, connected to its gateway."""
    with havengate.Client(police.options(gateway.port)) as c:
        yield c
