"""Connection settings of an integration client, read and checked as ``havenctl`` does.

A connection is five settings: the gateway's ``address`` (host:port), this
client's ``certificate`` and ``private_key`` (PEM files), the organisation's
``ca`` certificate, and the SPIFFE id the gateway must present
(``gateway_id``, e.g. ``spiffe://police.nl.example/gateway``). They come from
a connection file (YAML, the same file ``havenctl --connection`` reads) or
from arguments, arguments winning::

    address: gw.police.nl.example:7443
    certificate: clients/case-system.crt
    private_key: clients/case-system.key
    ca: ca/ca.crt
    gateway_id: spiffe://police.nl.example/gateway
    timeout_seconds: 30          # optional: deadline of each unary call

Before any connection is made, :func:`check_credentials` refuses what
``havenctl`` refuses, with the same messages: a certificate that does not
match its key, an expired certificate, a key file others can read, a CA
that is not the gateway's organisation's; and, because only integration
clients may push and read the inbox, a certificate that is not a client's
of the gateway's organisation (``spiffe://<domain>/client/<name>``).
"""

from __future__ import annotations

import argparse
import datetime
import errno
import os
import stat
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional

import grpc

from havengate.errors import ConnectionSettingsError

__all__ = [
    "ConnectionOptions",
    "Credentials",
    "SpiffeId",
    "load_connection_file",
    "resolve_connection",
    "check_credentials",
    "add_connection_arguments",
    "connection_from_arguments",
]

_KEYS = ("address", "certificate", "private_key", "ca", "gateway_id", "timeout_seconds")
_MAX_PKI_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ConnectionOptions:
    """Where the gateway is and who this client is."""

    #: host:port of the gateway, e.g. ``gw.police.nl.example:7443``.
    address: str = ""
    #: This client's certificate (PEM file).
    certificate: str = ""
    #: This client's private key (PEM file, mode 0600).
    private_key: str = ""
    #: The organisation's CA certificate (PEM file).
    ca: str = ""
    #: The SPIFFE id the gateway must present, e.g. ``spiffe://police.nl.example/gateway``.
    gateway_id: str = ""
    #: Deadline of each unary call, in seconds.
    timeout: float = 30.0


def _err(code: grpc.StatusCode, message: str) -> ConnectionSettingsError:
    return ConnectionSettingsError(code, message)


def load_connection_file(path: str) -> ConnectionOptions:
    """Reads a connection file (YAML). Relative paths resolve against its directory.

    Raises :class:`~havengate.errors.ConnectionSettingsError` naming the file
    and every key that is wrong (``NOT_FOUND`` if the file cannot be read).
    """
    import yaml  # Debian: python3-yaml

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        raise _err(grpc.StatusCode.NOT_FOUND, f"cannot read {path}") from None
    try:
        root = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        problem = getattr(e, "problem", None) or str(e)
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: not valid YAML: {problem}") from None
    if not isinstance(root, dict):
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, f"{path}: must be a mapping of keys to values")
    base = os.path.dirname(os.path.abspath(path))
    problems: List[str] = []
    for key in root:
        if key not in _KEYS:
            problems.append(f"{key}: unknown key")
    values: Dict[str, str] = {}
    for key, is_path in (("address", False), ("certificate", True), ("private_key", True),
                         ("ca", True), ("gateway_id", False)):
        value = root.get(key)
        if value is None or isinstance(value, (dict, list)) or str(value) == "":
            problems.append(f"{key}: is required")
            continue
        value = str(value)
        if is_path and not os.path.isabs(value):
            value = os.path.normpath(os.path.join(base, value))
        values[key] = value
    timeout = 30.0
    if "timeout_seconds" in root:
        raw = root["timeout_seconds"]
        seconds = 0
        if isinstance(raw, int) and not isinstance(raw, bool):
            seconds = raw
        elif isinstance(raw, str) and raw.strip().isdigit():
            seconds = int(raw.strip())
        if seconds <= 0:
            problems.append("timeout_seconds: must be a positive whole number")
        else:
            timeout = float(seconds)
    if problems:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, f"{path}: {'; '.join(problems)}")
    return ConnectionOptions(timeout=timeout, **values)


def resolve_connection(connection: Optional[str] = None, *, address: Optional[str] = None,
                       certificate: Optional[str] = None, private_key: Optional[str] = None,
                       ca: Optional[str] = None, gateway_id: Optional[str] = None,
                       timeout: Optional[float] = None) -> ConnectionOptions:
    """Resolves settings as ``havenctl`` does.

    The connection file is ``connection``, else ``$HAVENCTL_CONNECTION``,
    else ``./havenctl.yaml`` if it exists; each argument given overrides the
    file's value. Raises :class:`~havengate.errors.ConnectionSettingsError`
    (``INVALID_ARGUMENT``) naming the missing settings by their ``havenctl``
    flags, e.g. ``no connection settings for: --address, --cert (give
    --connection FILE or the flags)``.
    """
    path = connection or os.environ.get("HAVENCTL_CONNECTION") or ""
    if not path and os.path.exists("havenctl.yaml"):
        path = "havenctl.yaml"
    options = load_connection_file(path) if path else ConnectionOptions()
    overrides = {k: v for k, v in (("address", address), ("certificate", certificate),
                                   ("private_key", private_key), ("ca", ca),
                                   ("gateway_id", gateway_id)) if v}
    if timeout is not None:
        overrides["timeout"] = float(timeout)
    options = replace(options, **overrides)
    missing = [flag for flag, value in (("--address", options.address), ("--cert", options.certificate),
                                        ("--key", options.private_key), ("--ca", options.ca),
                                        ("--gateway-id", options.gateway_id)) if not value]
    if missing:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT,
                   f"no connection settings for: {', '.join(missing)} "
                   "(give --connection FILE or the flags)")
    return options


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``havenctl``'s connection flags to an argparse parser.

    ``--connection``, ``--address``, ``--cert``, ``--key``, ``--ca``,
    ``--gateway-id``; read them back with :func:`connection_from_arguments`.
    """
    group = parser.add_argument_group("connection (as havenctl)")
    group.add_argument("--connection", metavar="FILE",
                       help="connection file (YAML: address, certificate, private_key, ca, "
                            "gateway_id); default $HAVENCTL_CONNECTION or ./havenctl.yaml")
    group.add_argument("--address", help="gateway host:port")
    group.add_argument("--cert", help="client certificate (PEM)")
    group.add_argument("--key", help="client private key (PEM)")
    group.add_argument("--ca", help="organisation CA certificate (PEM)")
    group.add_argument("--gateway-id",
                       help="SPIFFE id the gateway must present, e.g. spiffe://police.nl.example/gateway")


def connection_from_arguments(args: argparse.Namespace) -> ConnectionOptions:
    """The :class:`ConnectionOptions` of flags added by :func:`add_connection_arguments`."""
    return resolve_connection(args.connection, address=args.address, certificate=args.cert,
                              private_key=args.key, ca=args.ca, gateway_id=args.gateway_id)


# --- SPIFFE ids ---------------------------------------------------------------

_SCHEME = "spiffe://"


def _quote(s: str) -> str:
    out = []
    for n, c in enumerate(s):
        if n >= 80:
            out.append("...")
            break
        out.append(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "?")
    return '"' + "".join(out) + '"'


def _lower_alnum(c: str) -> bool:
    return ("a" <= c <= "z") or ("0" <= c <= "9")


def _validate_trust_domain(domain: str) -> Optional[str]:
    if not domain:
        return "trust domain is empty"
    if len(domain) > 253:
        return "trust domain is longer than 253 characters"
    for c in domain:
        if "A" <= c <= "Z":
            return f"trust domain {_quote(domain)} must be lower-case"
        if not _lower_alnum(c) and c not in "-.":
            return (f"trust domain {_quote(domain)} may contain only a-z, 0-9, '-' and '.' "
                    "(no port, user info, path, query or fragment)")
    labels = domain.split(".")
    for label in labels:
        if not label:
            return f"trust domain {_quote(domain)} has an empty label (leading, trailing or double dot)"
        if len(label) > 63:
            return f"trust domain {_quote(domain)} has a label longer than 63 characters"
        if label[0] == "-" or label[-1] == "-":
            return f"trust domain {_quote(domain)} has a label that starts or ends with '-'"
    if labels[-1].isdigit():
        return f"trust domain {_quote(domain)} looks like an IP address; use a DNS-style name"
    return None


def _validate_name(name: str) -> Optional[str]:
    if not name:
        return "name is empty"
    if len(name) > 64:
        return f"name {_quote(name)} is longer than 64 characters"
    if not _lower_alnum(name[0]):
        return f"name {_quote(name)} must start with a lower-case letter or digit"
    for c in name:
        if not _lower_alnum(c) and c not in "._-":
            return f"name {_quote(name)} may contain only a-z, 0-9, '.', '_' and '-'"
    return None


@dataclass(frozen=True)
class SpiffeId:
    """A havengate identity: ``spiffe://<domain>/gateway``, ``/client/<name>`` or ``/officer/<name>``."""

    trust_domain: str
    #: ``gateway``, ``client`` or ``officer``.
    role: str
    #: The client or officer name; empty for a gateway.
    name: str = ""

    @staticmethod
    def parse(uri: str) -> "SpiffeId":
        """Parses strictly, as the gateway does; ValueError says what is wrong."""
        if len(uri) > 2048:
            raise ValueError("SPIFFE id is too long")
        if not uri.startswith(_SCHEME):
            raise ValueError(f'SPIFFE id {_quote(uri)} does not start with "spiffe://"')
        rest = uri[len(_SCHEME):]
        slash = rest.find("/")
        if slash < 0:
            raise ValueError(f"SPIFFE id {_quote(uri)} has no path; expected /gateway, "
                             "/client/<name> or /officer/<name>")
        domain, path = rest[:slash], rest[slash + 1:]
        problem = _validate_trust_domain(domain)
        if problem:
            raise ValueError(f"SPIFFE id {_quote(uri)}: {problem}")
        if path == "gateway":
            return SpiffeId(domain, "gateway")
        segments = path.split("/")
        if len(segments) == 2 and segments[0] in ("client", "officer"):
            problem = _validate_name(segments[1])
            if problem:
                raise ValueError(f"SPIFFE id {_quote(uri)}: {problem}")
            return SpiffeId(domain, segments[0], segments[1])
        raise ValueError(f"SPIFFE id {_quote(uri)} must have the path /gateway, "
                         "/client/<name> or /officer/<name>")

    def __str__(self) -> str:
        suffix = "gateway" if self.role == "gateway" else f"{self.role}/{self.name}"
        return f"{_SCHEME}{self.trust_domain}/{suffix}"


# --- checks before connecting --------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What :func:`check_credentials` read: the PEM bytes gRPC needs and the identities."""

    certificate_chain: bytes
    private_key: bytes = field(repr=False)
    root_certificate: bytes
    client_id: SpiffeId
    gateway_id: SpiffeId


def _errno_error(err: int, what: str, path: str) -> ConnectionSettingsError:
    code = grpc.StatusCode.INTERNAL
    if err in (errno.ENOENT, errno.ENOTDIR):
        code = grpc.StatusCode.NOT_FOUND
    elif err == errno.EEXIST:
        code = grpc.StatusCode.ALREADY_EXISTS
    elif err in (errno.EACCES, errno.EPERM):
        code = grpc.StatusCode.PERMISSION_DENIED
    elif err in (errno.ENOSPC, errno.EDQUOT):
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
    return _err(code, f"{what} {path}: {os.strerror(err)}")


def _read_file(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise _errno_error(e.errno, "cannot open", path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _err(grpc.StatusCode.FAILED_PRECONDITION, f"{path} is not a regular file")
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, 16384)
            if not chunk:
                break
            size += len(chunk)
            if size > _MAX_PKI_FILE_BYTES:
                raise _err(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"{path} is larger than the limit of {_MAX_PKI_FILE_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise _errno_error(e.errno, "cannot read", path) from None
    finally:
        os.close(fd)


def _read_certificates(path: str):
    from cryptography import x509

    pem = _read_file(path)
    begin = b"-----BEGIN CERTIFICATE-----"
    end = b"-----END CERTIFICATE-----"
    certificates = []
    rest = pem
    while True:
        start = rest.find(begin)
        if start < 0:
            break
        stop = rest.find(end, start)
        if stop < 0:
            raise _err(grpc.StatusCode.INVALID_ARGUMENT,
                       f"{path}: PEM certificate #{len(certificates) + 1} does not parse")
        block = rest[start:stop + len(end)]
        try:
            certificates.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            raise _err(grpc.StatusCode.INVALID_ARGUMENT,
                       f"{path}: PEM certificate #{len(certificates) + 1} does not parse") from None
        rest = rest[stop + len(end):]
    if not certificates:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, f"{path}: no PEM certificate found")
    return pem, certificates


def _uri_sans(certificate) -> List[str]:
    from cryptography import x509

    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def _spiffe_id_of(certificate) -> SpiffeId:
    uris = _uri_sans(certificate)
    if not uris:
        raise ValueError("certificate has no URI SAN (no SPIFFE id)")
    if len(uris) > 1:
        raise ValueError(f"certificate has {len(uris)} URI SANs; a havengate certificate has exactly one")
    return SpiffeId.parse(uris[0])


def _leaf_usage_problem(certificate) -> Optional[str]:
    """CheckLeafUsage of the gateway's PKI library, for a TLS client certificate."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        extensions = certificate.extensions
    except ValueError:
        return "certificate has invalid or duplicate extensions"
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "certificate is a CA certificate, not a leaf"
    except x509.ExtensionNotFound:
        pass
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "certificate has no keyUsage extension"
    if not usage.digital_signature:
        return "certificate keyUsage lacks digitalSignature"
    if usage.key_cert_sign or usage.crl_sign:
        return "certificate keyUsage allows keyCertSign or cRLSign, which a leaf must not"
    try:
        extended = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "certificate has no extendedKeyUsage extension"
    if ExtendedKeyUsageOID.CLIENT_AUTH not in extended:
        return "certificate extendedKeyUsage lacks clientAuth"
    return None


def _signed_by(certificate, issuer) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if certificate.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(certificate.signature, certificate.tbs_certificate_bytes,
                       ec.ECDSA(certificate.signature_hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(certificate.signature, certificate.tbs_certificate_bytes,
                       padding.PKCS1v15(), certificate.signature_hash_algorithm)
        else:
            key.verify(certificate.signature, certificate.tbs_certificate_bytes)
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def _ca_problem(ca, trust_domain: str) -> Optional[str]:
    """ValidateCaCertificate of the gateway's PKI library."""
    from cryptography import x509

    subject = ca.subject.rfc4514_string()
    try:
        is_ca = ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return f'"{subject}" is not a CA certificate (no basicConstraints CA:TRUE)'
    try:
        cert_sign = ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        cert_sign = True  # OpenSSL reads a missing keyUsage as "any usage"
    if not cert_sign:
        return f'CA certificate "{subject}" lacks keyUsage keyCertSign'
    if not _signed_by(ca, ca):
        return (f'CA certificate "{subject}" is not self-signed; havengate trusts only '
                "organisation root CAs")
    uris = _uri_sans(ca)
    if len(uris) > 1:
        return f'CA certificate "{subject}": CA certificate names more than one trust domain'
    if uris:
        uri = uris[0]
        if not uri.startswith(_SCHEME):
            return f'CA certificate "{subject}": {_quote(uri)} does not start with "spiffe://"'
        domain = uri[len(_SCHEME):]
        problem = _validate_trust_domain(domain)
        if problem:
            return f'CA certificate "{subject}": {problem}'
        if domain != trust_domain:
            return f'CA certificate "{subject}" is the CA of trust domain {domain}, not of {trust_domain}'
    return None


def _format_time(t: datetime.datetime) -> str:
    # absl::FormatTime's default (RFC 3339) in UTC, as havenctl prints it.
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def check_credentials(options: ConnectionOptions,
                      now: Optional[datetime.datetime] = None) -> Credentials:
    """Checks the settings before connecting and reads the files gRPC needs.

    In ``havenctl``'s order and with its messages: the address, the files
    being given, the gateway id, this client's certificate (readable,
    matching its key, not expired, one SPIFFE id, usable for TLS client
    authentication), its key (mode 0600), the CA (a self-signed CA of the
    gateway's trust domain). Then, as the gateway would refuse it on every
    call, a certificate that is not an integration client's of the
    gateway's organisation.

    Raises :class:`~havengate.errors.ConnectionSettingsError`.
    """
    from cryptography.hazmat.primitives import serialization

    if not options.address:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, "address: is required")
    if not options.certificate or not options.private_key:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT,
                   "a certificate file and a private key file are required (mutual TLS)")
    if not options.ca:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, "the CA file of the organisation to dial is required")
    try:
        gateway_id = SpiffeId.parse(options.gateway_id)
    except ValueError as e:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, f"expected server id: {e}") from None

    chain_pem, chain = _read_certificates(options.certificate)
    leaf = chain[0]
    try:
        mode = os.stat(options.private_key).st_mode
    except OSError as e:
        raise _errno_error(e.errno, "cannot stat", options.private_key) from None
    if mode & 0o077:
        raise _err(grpc.StatusCode.FAILED_PRECONDITION,
                   f"private key file {options.private_key} is accessible by group or others "
                   f"(mode {stat.S_IMODE(mode):04o}); run chmod 600 on it")
    key_pem = _read_file(options.private_key)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise _err(grpc.StatusCode.INVALID_ARGUMENT,
                   f"{options.private_key}: not an unencrypted PEM private key") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise _err(grpc.StatusCode.INVALID_ARGUMENT,
                   f"{options.private_key} is not the private key of {options.certificate}")
    now = now or datetime.datetime.utcnow()
    if leaf.not_valid_after < now:
        raise _err(grpc.StatusCode.FAILED_PRECONDITION,
                   f"{options.certificate}: certificate expired at {_format_time(leaf.not_valid_after)}")
    try:
        client_id = _spiffe_id_of(leaf)
    except ValueError as e:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, f"{options.certificate}: {e}") from None
    problem = _leaf_usage_problem(leaf)
    if problem:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, f"{options.certificate}: {problem}")

    ca_pem, cas = _read_certificates(options.ca)
    if len(cas) != 1:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT,
                   f"{options.ca}: expected exactly one certificate, found {len(cas)}")
    problem = _ca_problem(cas[0], gateway_id.trust_domain)
    if problem:
        raise _err(grpc.StatusCode.INVALID_ARGUMENT, f"{options.ca}: {problem}")

    if client_id.role != "client" or client_id.trust_domain != gateway_id.trust_domain:
        raise _err(grpc.StatusCode.PERMISSION_DENIED,
                   f"{options.certificate}: {client_id}: this call is for integration clients of "
                   "this organisation (spiffe://<domain>/client/<name>)")
    return Credentials(certificate_chain=chain_pem, private_key=key_pem, root_certificate=ca_pem,
                       client_id=client_id, gateway_id=gateway_id)
