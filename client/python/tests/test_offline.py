"""What needs no gateway: reading the gateway's validation messages, and the
CTest registration never passing on an empty or broken test collection."""

from __future__ import annotations

import os
import subprocess

import grpc

import harness
import havengate
from havengate.errors import error_from_status, parse_violations

DISCOVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ctest_discover.py")


def test_validation_messages_split_into_field_paths() -> None:
    message = ("alert.title: is required; alert.containers[0].number: check digit is 3, expected 2 "
               "(ISO 6346); alert.location.unlocode: must be 2 letters and 3 of [A-Z2-9]; "
               "and 4 more problems")
    assert parse_violations(message) == [
        havengate.Violation("alert.title", "is required"),
        havengate.Violation("alert.containers[0].number", "check digit is 3, expected 2 (ISO 6346)"),
        havengate.Violation("alert.location.unlocode", "must be 2 letters and 3 of [A-Z2-9]"),
    ]
    # A reason may itself hold "; " when what follows is not a field path.
    assert parse_violations("reason: is required; at most 1,000 characters") == [
        havengate.Violation("reason", "is required; at most 1,000 characters")]
    error = error_from_status(grpc.StatusCode.INVALID_ARGUMENT, message)
    assert isinstance(error, havengate.ValidationError)
    assert error.field_path == "alert.title"
    assert str(error) == f"INVALID_ARGUMENT: {message}"
    assert isinstance(error_from_status(grpc.StatusCode.UNAVAILABLE, "down"), havengate.UnavailableError)
    other = error_from_status(grpc.StatusCode.ALREADY_EXISTS, "item x version 1 was accepted before")
    assert type(other) is havengate.HavengateError and other.code == grpc.StatusCode.ALREADY_EXISTS


def discover(tests_dir: str, out: str) -> str:
    harness.run([harness.PYTHON, DISCOVER, "--python", harness.PYTHON, "--tests", tests_dir,
                 "--pythonpath", os.environ.get("PYTHONPATH", ""), "--source-dir", harness.SOURCE_DIR,
                 "--binary-dir", harness.BINARY_DIR, "--label", "python", "--out", out])
    with open(out, encoding="utf-8") as f:
        return f.read()


def test_no_tests_or_a_broken_collection_registers_a_failing_test(workdir: str) -> None:
    # pytest.ini beside the tests folder, as in client/python.
    for name, content in (("empty", None), ("broken", "import no_such_module\n\ndef test_x():\n    pass\n"),
                          ("fine", "def test_one():\n    assert 1 + 1 == 2\n")):
        root = os.path.join(workdir, name)
        os.makedirs(os.path.join(root, "tests"))
        with open(os.path.join(root, "pytest.ini"), "w", encoding="utf-8") as f:
            f.write("[pytest]\naddopts = -p no:cacheprovider\n")
        if content is not None:
            with open(os.path.join(root, "tests", "test_x.py"), "w", encoding="utf-8") as f:
                f.write(content)

    for name in ("empty", "broken"):
        registered = discover(os.path.join(workdir, name, "tests"), os.path.join(workdir, f"{name}.cmake"))
        assert "add_test([==[python.collection]==]" in registered
        assert registered.count("add_test(") == 1
        # The registered command fails when run, whatever the collection finds.
        command = [arg for arg in registered.split("add_test(", 1)[1].split(")\n", 1)[0]
                   .replace("[==[", "\x00").replace("]==]", "\x00").split("\x00")[1::2]][1:]
        assert subprocess.run(command, capture_output=True).returncode == 1

    registered = discover(os.path.join(workdir, "fine", "tests"), os.path.join(workdir, "fine.cmake"))
    assert "add_test([==[python.test_x.test_one]==]" in registered
    assert "LABELS [==[python]==]" in registered
