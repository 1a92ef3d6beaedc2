"""Exceptions raised by the havengate client.

Every error is a :class:`HavengateError` carrying the gRPC status code and
the message, exactly as the gateway (or, before connecting, the client)
worded it. Two subclasses matter most:

- :class:`ValidationError` (``INVALID_ARGUMENT``): an item was refused; its
  :attr:`~ValidationError.violations` name each field path and the reason,
  e.g. ``alert.containers[0].number`` / ``check digit is 7, expected 3``.
- :class:`ConnectionSettingsError`: the connection settings were refused
  before any connection was made (a certificate that does not match its key,
  an expired certificate, a certificate of the wrong role, a missing file).
  Its messages are the ones ``havenctl`` prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence

import grpc

__all__ = [
    "HavengateError",
    "ValidationError",
    "Violation",
    "ConnectionSettingsError",
    "UnavailableError",
    "PermissionDeniedError",
    "StreamAbortedError",
    "parse_violations",
    "error_from_status",
    "error_from_rpc_error",
]


@dataclass(frozen=True)
class Violation:
    """One problem of an item: the field path and the reason."""

    #: Field path in protobuf field names with indexes into repeated fields,
    #: e.g. ``alert.containers[0].number``; ``item`` for the item as a whole.
    path: str
    #: Why, e.g. ``check digit is 7, expected 3``.
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class HavengateError(Exception):
    """An error with a gRPC status code and the gateway's (or client's) message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        #: The gRPC status code, e.g. ``grpc.StatusCode.INVALID_ARGUMENT``.
        self.code: grpc.StatusCode = code
        #: The message without the code, e.g.
        #: ``alert.containers[0].number: check digit is 7, expected 3``.
        self.message: str = message


class ValidationError(HavengateError):
    """An item (or request) was refused as invalid (``INVALID_ARGUMENT``).

    ``violations`` lists every problem the gateway reported, in order;
    ``field_path`` is the path of the first one (``None`` if the message did
    not name a field).
    """

    def __init__(self, message: str, violations: Optional[Sequence[Violation]] = None) -> None:
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, message)
        self.violations: List[Violation] = list(
            violations if violations is not None else parse_violations(message))

    @property
    def field_path(self) -> Optional[str]:
        """The field path of the first problem, e.g. ``alert.containers[0].number``."""
        return self.violations[0].path if self.violations else None

    @property
    def field_paths(self) -> List[str]:
        """The field paths of every problem, in the gateway's order."""
        return [v.path for v in self.violations]


class ConnectionSettingsError(HavengateError):
    """The connection settings were refused before connecting.

    The code says what kind of problem it is, as in ``havenctl``:
    ``INVALID_ARGUMENT`` (a setting is wrong, e.g. the key does not match the
    certificate), ``FAILED_PRECONDITION`` (e.g. the certificate has expired,
    the key file is readable by others), ``NOT_FOUND`` (a file is missing),
    ``PERMISSION_DENIED`` (the certificate is not an integration client's of
    the gateway's organisation).
    """


class UnavailableError(HavengateError):
    """The gateway could not be reached, or refused the TLS handshake (``UNAVAILABLE``)."""


class PermissionDeniedError(HavengateError):
    """The gateway refused the caller's identity for this call (``PERMISSION_DENIED``)."""


class StreamAbortedError(HavengateError):
    """A push stream ended before every item sent was answered.

    ``unacknowledged`` holds the item ids that were sent (or still to be
    sent) and not acknowledged: they may or may not be stored, and pushing
    them again is safe (pushes are idempotent).
    """

    def __init__(self, code: grpc.StatusCode, message: str, unacknowledged: Sequence[str]) -> None:
        super().__init__(code, message)
        self.unacknowledged: List[str] = list(unacknowledged)


# "path: reason" where path is a protobuf field path with optional indexes,
# e.g. alert.containers[0].number or item.
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?)*"
_VIOLATION = re.compile(rf"^({_PATH}): (.*)$", re.DOTALL)
_SEPARATOR = re.compile(rf"; (?={_PATH}: |and \d+ more problems$)")
_MORE = re.compile(r"^and \d+ more problems$")


def parse_violations(message: str) -> List[Violation]:
    """Splits a gateway validation message into its problems.

    The gateway words every problem as ``path: reason`` and joins them with
    ``"; "``, e.g. ``alert.title: is required; alert.containers[0].number:
    check digit is 7, expected 3``. A trailing ``and N more problems`` is
    dropped. Parts that name no field path are skipped.
    """
    violations = []
    for part in _SEPARATOR.split(message):
        part = part.strip()
        if _MORE.match(part):
            continue
        match = _VIOLATION.match(part)
        if match:
            violations.append(Violation(match.group(1), match.group(2)))
    return violations


def error_from_status(code: grpc.StatusCode, message: str) -> HavengateError:
    """The exception for a gRPC status (any code but OK)."""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ValidationError(message)
    if code == grpc.StatusCode.UNAVAILABLE:
        return UnavailableError(code, message)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDeniedError(code, message)
    return HavengateError(code, message)


def error_from_rpc_error(error: grpc.RpcError) -> HavengateError:
    """The exception for a failed gRPC call."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return error_from_status(code or grpc.StatusCode.UNKNOWN, details or "")


_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def status_code_from_int(value: int) -> grpc.StatusCode:
    """``grpc.StatusCode`` for a numeric google.rpc.Code value (UNKNOWN if none)."""
    return _CODES_BY_VALUE.get(value, grpc.StatusCode.UNKNOWN)
