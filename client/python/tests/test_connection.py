"""Connection settings and certificates: what havenctl refuses, the Python
client refuses before connecting, with the same messages; what the gateway
or the client's TLS refuses is refused for real."""

from __future__ import annotations

import datetime
import os
import shutil

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

import harness
import havengate


def havenctl_refusal(connection_file: str) -> str:
    """What ``havenctl items list`` says when it refuses these settings (its stderr, without the prefix)."""
    result = harness.havenctl("items", "list", "--connection", connection_file, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("havenctl: ")
    return line[len("havenctl: "):]


def refusal(options: havengate.ConnectionOptions) -> havengate.ConnectionSettingsError:
    with pytest.raises(havengate.ConnectionSettingsError) as refused:
        havengate.Client(options)
    return refused.value


def expired_copy(org: harness.Org) -> str:
    """The org's client certificate re-issued by its CA with a validity that ended yesterday."""
    with open(org.client_cert, "rb") as f:
        original = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(org.ca_dir, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(org.ca_file, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    now = datetime.datetime.utcnow().replace(microsecond=0)
    builder = (x509.CertificateBuilder()
               .subject_name(original.subject).issuer_name(ca.subject)
               .public_key(original.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=30))
               .not_valid_after(now - datetime.timedelta(days=1)))
    for extension in original.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    certificate = builder.sign(ca_key, hashes.SHA256())
    path = os.path.join(org.dir, "clients", "expired.crt")
    with open(path, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_key_that_does_not_match_the_certificate(police: harness.Org, gateway: harness.Gateway) -> None:
    options = police.options(gateway.port, private_key=police.officer_key)
    error = refusal(options)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == f"{police.officer_key} is not the private key of {police.client_cert}"
    assert error.message == havenctl_refusal(
        police.connection_file(gateway.port, private_key=police.officer_key))


def test_expired_certificate(police: harness.Org, gateway: harness.Gateway) -> None:
    expired = expired_copy(police)
    error = refusal(police.options(gateway.port, certificate=expired))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.message.startswith(f"{expired}: certificate expired at ")
    assert error.message == havenctl_refusal(police.connection_file(gateway.port, certificate=expired))


def test_key_file_readable_by_others(police: harness.Org, gateway: harness.Gateway) -> None:
    key = os.path.join(police.dir, "clients", "shared.key")
    shutil.copyfile(police.client_key, key)
    os.chmod(key, 0o644)
    error = refusal(police.options(gateway.port, private_key=key))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.message == (f"private key file {key} is accessible by group or others (mode 0644); "
                             "run chmod 600 on it")
    assert error.message == havenctl_refusal(police.connection_file(gateway.port, private_key=key))


def test_missing_certificate_file(police: harness.Org, gateway: harness.Gateway) -> None:
    missing = os.path.join(police.dir, "clients", "nobody.crt")
    error = refusal(police.options(gateway.port, certificate=missing))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.message == f"cannot open {missing}: No such file or directory"
    assert error.message == havenctl_refusal(police.connection_file(gateway.port, certificate=missing))


def test_ca_of_another_organisation(police: harness.Org, gateway: harness.Gateway, workdir: str) -> None:
    customs = harness.create_org(workdir, "customs-nl", "customs.nl.example")
    error = refusal(police.options(gateway.port, ca=customs.ca_file))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == (f'{customs.ca_file}: CA certificate "CN=havengate CA customs-nl,O=customs-nl" '
                             "is the CA of trust domain customs.nl.example, not of police.nl.example")
    assert error.message == havenctl_refusal(police.connection_file(gateway.port, ca=customs.ca_file))


def test_officer_certificate_is_refused_before_connecting(police: harness.Org,
                                                          gateway: harness.Gateway) -> None:
    officer_id = "spiffe://police.nl.example/officer/duty-officer"
    error = refusal(police.options(gateway.port, certificate=police.officer_cert,
                                   private_key=police.officer_key))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    # havenctl refuses it the same way, before connecting too, in the
    # gateway's own words ...
    havenctl_says = havenctl_refusal(police.connection_file(
        gateway.port, certificate=police.officer_cert, private_key=police.officer_key))
    assert havenctl_says == (f"{police.officer_cert}: {officer_id}: this call is for "
                             "integration clients of this organisation "
                             "(spiffe://<domain>/client/<name>)")
    assert error.message == havenctl_says
    # ... and nothing reached the gateway from either.
    assert officer_id not in gateway.log()


def test_client_of_another_organisation_is_refused_before_connecting(
        police: harness.Org, gateway: harness.Gateway, workdir: str) -> None:
    customs = harness.create_org(workdir, "customs-nl", "customs.nl.example")
    error = refusal(police.options(gateway.port, certificate=customs.client_cert,
                                   private_key=customs.client_key))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert error.message == (f"{customs.client_cert}: spiffe://customs.nl.example/client/integration: "
                             "this call is for integration clients of this organisation "
                             "(spiffe://<domain>/client/<name>)")


def test_certificate_from_an_untrusted_ca_is_refused_by_the_gateway(
        police: harness.Org, gateway: harness.Gateway, client: havengate.Client, workdir: str) -> None:
    # An impostor CA for the same trust domain: its client certificate looks
    # right to the client, but the gateway trusts only police-nl's real CA.
    impostor = harness.create_org(os.path.join(workdir, "impostor"), "police-nl", "police.nl.example")
    with havengate.Client(police.options(gateway.port, certificate=impostor.client_cert,
                                         private_key=impostor.client_key)) as rogue:
        with pytest.raises(havengate.UnavailableError) as refused:
            rogue.push(harness.alert("from-impostor"))
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    harness.wait_for(lambda: "handshake_refused" in gateway.log(), 10, "the gateway to log the refusal")
    assert harness.inbox_ids(client) == []


def test_gateway_that_is_not_the_expected_one_is_refused(
        police: harness.Org, gateway: harness.Gateway, client: havengate.Client, workdir: str) -> None:
    # Another organisation's gateway at the address: its certificate does
    # not chain to police-nl's CA.
    customs = harness.create_org(workdir, "customs-nl", "customs.nl.example")
    customs_gateway = harness.Gateway(customs).start()
    try:
        with havengate.Client(police.options(customs_gateway.port)) as misdirected:
            with pytest.raises(havengate.UnavailableError):
                misdirected.push(harness.alert("misdirected"))
        with havengate.Client(customs.options(customs_gateway.port)) as customs_client:
            assert harness.inbox_ids(customs_client) == []
    finally:
        customs_gateway.stop()
    # The right gateway, but expected to present another SPIFFE id: refused
    # by the client, since the id is what identifies the gateway.
    other_id = "spiffe://police.nl.example/client/integration"
    with havengate.Client(police.options(gateway.port, gateway_id=other_id)) as wrong_id:
        with pytest.raises(havengate.UnavailableError) as refused:
            wrong_id.push(harness.alert("wrong-id"))
        assert f"[{other_id}] is not in peer certificate" in refused.value.message
    assert harness.inbox_ids(client) == []


def test_connection_file_problems_are_named_like_havenctl(police: harness.Org, workdir: str) -> None:
    path = os.path.join(workdir, "broken.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"address: 127.0.0.1:1\ncertificate: {police.client_cert}\ncolour: red\n"
                "timeout_seconds: soon\n")
    with pytest.raises(havengate.ConnectionSettingsError) as refused:
        havengate.load_connection_file(path)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.message == (f"{path}: colour: unknown key; private_key: is required; "
                                     "ca: is required; gateway_id: is required; "
                                     "timeout_seconds: must be a positive whole number")
    assert refused.value.message == havenctl_refusal(path)

    missing = os.path.join(workdir, "absent.yaml")
    with pytest.raises(havengate.ConnectionSettingsError) as refused:
        havengate.load_connection_file(missing)
    assert refused.value.code == grpc.StatusCode.NOT_FOUND
    assert refused.value.message == f"cannot read {missing}" == havenctl_refusal(missing)


def test_relative_paths_resolve_against_the_connection_file(police: harness.Org,
                                                           gateway: harness.Gateway) -> None:
    path = os.path.join(police.dir, "relative.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"address: 127.0.0.1:{gateway.port}\ncertificate: clients/integration.crt\n"
                "private_key: clients/integration.key\nca: ca/ca.crt\n"
                f"gateway_id: {police.gateway_id}\ntimeout_seconds: 7\n")
    options = havengate.load_connection_file(path)
    assert options == havengate.ConnectionOptions(
        address=f"127.0.0.1:{gateway.port}", certificate=police.client_cert,
        private_key=police.client_key, ca=police.ca_file, gateway_id=police.gateway_id, timeout=7.0)
    with havengate.Client(options) as client:
        assert client.health() == "SERVING"


def test_settings_resolve_like_havenctl_flags(police: harness.Org, gateway: harness.Gateway,
                                             workdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = os.path.join(workdir, "empty")
    os.mkdir(empty)
    monkeypatch.chdir(empty)
    monkeypatch.delenv("HAVENCTL_CONNECTION", raising=False)
    with pytest.raises(havengate.ConnectionSettingsError) as refused:
        havengate.resolve_connection(address="127.0.0.1:1", ca=police.ca_file)
    assert refused.value.message == ("no connection settings for: --cert, --key, --gateway-id "
                                     "(give --connection FILE or the flags)")
    result = harness.havenctl("items", "list", "--address", "127.0.0.1:1", "--ca", police.ca_file,
                              check=False, cwd=empty)
    assert result.stderr.strip() == f"havenctl: {refused.value.message}"

    # $HAVENCTL_CONNECTION names the file; a flag overrides its value.
    wrong_address = police.connection_file(1, path=os.path.join(workdir, "env.yaml"))
    monkeypatch.setenv("HAVENCTL_CONNECTION", wrong_address)
    options = havengate.resolve_connection(address=gateway.address)
    assert options.address == gateway.address
    assert options.certificate == police.client_cert
    with havengate.Client(address=gateway.address) as client:
        assert client.push(harness.alert("env-file")).origin == "police-nl"
