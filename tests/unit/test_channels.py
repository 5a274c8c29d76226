"""Sending down channels: which URLs may be targets, one attempt to Slack or a webhook (against the local sink, made
to fail on purpose), email through SES and the channels' secrets in Secrets Manager (both on moto)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import orjson
import pytest
import urllib3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from headcount.core.messages import email_message
from headcount.core.notices import Channel, ChannelKind
from headcount.core.signing import verify
from headcount.local.sink import LocalSink
from headcount.views.channels import (
    BadTarget,
    DeliveryFailed,
    MemorySecrets,
    SecretsManagerSecrets,
    Senders,
    check_target,
)
from support.notices import sample_notice

NOW = 1_765_004_400.0
SLACK_PATH = "/services/T0001/B0001/sEcReTtOkEn"  # a Slack webhook's path is its secret
HOOK_PATH = "/hooks/headcount"


def resolver(*addresses: str):
    """A getaddrinfo that answers these addresses for any host."""

    def resolve(host, port, *args, **kwargs):
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [
            (family[6 if ":" in a else 4], socket.SOCK_STREAM, 6, "", (a, port) if ":" not in a else (a, port, 0, 0))
            for a in addresses
        ]

    return resolve


def no_dns(host, port, *args, **kwargs):
    raise AssertionError(f"{host} must not be looked up")


def failing_dns(host, port, *args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


# --- check_target ------------------------------------------------------------------------------------------------------


def test_a_public_host_is_a_target_shown_without_its_path() -> None:
    # Given a host that resolves to public addresses only
    public = resolver("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")

    # Then it is allowed on AWS, and what is shown is its scheme and host (and a port that is not the default)
    assert check_target("https://hooks.slack.com/services/T/B/x", allow_loopback=False, resolve=public) == (
        "https://hooks.slack.com"
    )
    assert check_target("https://Example.com:8443/x?y=1", allow_loopback=False, resolve=public) == (
        "https://example.com:8443"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://172.16.5.4/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",  # the instance metadata
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",  # IPv4-mapped IPv6 of a private address
        "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
        "https://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://240.0.0.1/hook",
    ],
)
def test_an_address_that_is_not_public_is_refused_on_aws(url) -> None:
    with pytest.raises(BadTarget, match="address"):
        check_target(url, allow_loopback=False, resolve=no_dns)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/hook", "https only"),
        ("ftp://hooks.example.com/hook", "https only"),
        ("https://user:pw@hooks.example.com/hook", "credentials"),
        ("https://hooks.example.com@93.184.215.14/hook", "credentials"),
        ("https:///hook", "host"),
        ("https://hooks.example.com:99999/hook", "not a valid URL"),
    ],
)
def test_a_url_of_the_wrong_shape_is_refused(url, reason) -> None:
    with pytest.raises(BadTarget, match=reason):
        check_target(url, allow_loopback=False, resolve=resolver("93.184.215.14"))


def test_a_host_resolving_to_a_private_address_is_refused() -> None:
    # Given a public-looking name with one private address among public ones (a rebinding DNS, a split horizon)
    resolve = resolver("93.184.215.14", "10.1.2.3")

    # Then it is refused, saying which address
    with pytest.raises(BadTarget, match=r"private address \(10\.1\.2\.3\)"):
        check_target("https://hooks.example.com/x", allow_loopback=False, resolve=resolve)


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(BadTarget, match="does not resolve"):
        check_target("https://nowhere.invalid/x", allow_loopback=False, resolve=failing_dns)


def test_loopback_is_allowed_on_one_machine_and_still_no_other_private_range() -> None:
    # Given the local stack (allow_loopback)
    local = resolver("127.0.0.1")

    # Then http and https to loopback are targets
    assert check_target("http://127.0.0.1:8765/hook", allow_loopback=True) == "http://127.0.0.1:8765"
    assert check_target("http://localhost:8765/hook", allow_loopback=True, resolve=local) == "http://localhost:8765"
    assert check_target("http://[::1]:8765/hook", allow_loopback=True) == "http://[::1]:8765"
    # And no other private range, nor plain http to a public host
    with pytest.raises(BadTarget, match="private"):
        check_target("http://10.0.0.1/hook", allow_loopback=True)
    with pytest.raises(BadTarget, match="loopback only"):
        check_target("http://hooks.example.com/hook", allow_loopback=True, resolve=resolver("93.184.215.14"))
    # And on AWS the same loopback URL is refused
    with pytest.raises(BadTarget):
        check_target("http://127.0.0.1:8765/hook", allow_loopback=False)


# --- sending to Slack and webhooks -------------------------------------------------------------------------------------


@pytest.fixture
def sink(tmp_path) -> Iterator[LocalSink]:
    with LocalSink(0, tmp_path / "sink" / "received.jsonl") as started:
        yield started


@pytest.fixture
def secrets() -> MemorySecrets:
    return MemorySecrets()


def channels(secrets: MemorySecrets, base_url: str) -> tuple[Channel, Channel]:
    slack_id = secrets.put("team-slack", {"url": base_url + SLACK_PATH})
    hook_id = secrets.put("team-hook", {"url": base_url + HOOK_PATH, "signing_secret": "whsec_test"})
    slack = Channel("team-slack", ChannelKind.SLACK, secret_id=slack_id, target=base_url)
    hook = Channel("team-hook", ChannelKind.WEBHOOK, secret_id=hook_id, target=base_url)
    return slack, hook


def senders(secrets, **kwargs) -> Senders:
    return Senders(secrets, email_from=None, allow_loopback=True, clock=lambda: NOW, **kwargs)


def test_a_webhook_is_delivered_signed(sink, secrets) -> None:
    # Given a webhook channel on the local sink
    _, hook = channels(secrets, sink.url)

    # When a notice is sent
    senders(secrets).send(hook, sample_notice())

    # Then the sink got the notice's JSON with headers whose signature verifies
    (got,) = sink.received(HOOK_PATH)
    assert got["body"] == sample_notice().to_json()
    headers = got["headers"]
    assert headers["X-Headcount-Delivery"] == sample_notice().id
    assert headers["X-Headcount-Timestamp"] == str(int(NOW))
    assert headers["User-Agent"] == "headcount-webhooks/1"
    assert headers["Host"] == sink.url.removeprefix("http://")
    # (the body was orjson's compact JSON: the same dumps of the same document gives the bytes that were signed)
    verify(
        "whsec_test", headers["X-Headcount-Timestamp"], orjson.dumps(got["body"]), headers["X-Headcount-Signature"], NOW
    )


def test_a_slack_message_is_delivered_as_block_kit(sink, secrets) -> None:
    slack, _ = channels(secrets, sink.url)
    senders(secrets).send(slack, sample_notice())
    (got,) = sink.received(SLACK_PATH)
    assert got["body"]["text"] == sample_notice().summary
    assert got["body"]["blocks"][0]["type"] == "header"


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (404, False), (400, False), (410, False)]
)
def test_an_error_status_fails_retryable_or_not(sink, secrets, status, retryable) -> None:
    # Given Slack answering an error
    slack, _ = channels(secrets, sink.url)
    sink.fail(SLACK_PATH, status=status, times=1)

    # When a notice is sent, Then the attempt fails, retryable as the status says, without the URL's secret path
    with pytest.raises(DeliveryFailed) as failed:
        senders(secrets).send(slack, sample_notice())
    assert failed.value.status == status and failed.value.retryable is retryable
    assert f"HTTP {status}" in str(failed.value)
    assert "sEcReTtOkEn" not in str(failed.value) and "/services" not in repr(failed.value)
    assert failed.value.__cause__ is None and failed.value.__context__ is None  # no chained error to log the URL
    # And the next attempt goes through
    senders(secrets).send(slack, sample_notice())
    assert len(sink.received(SLACK_PATH)) == 2


def test_a_hang_beyond_the_timeout_fails_retryable(sink, secrets) -> None:
    # Given a webhook that answers only after 3 s, and a sender that waits 0.5 s
    _, hook = channels(secrets, sink.url)
    sink.fail(HOOK_PATH, timeout_s=3, times=1)

    # When a notice is sent, Then it fails soon, retryable
    with pytest.raises(DeliveryFailed, match="no answer within 0.5 s") as failed:
        senders(secrets, timeout_s=0.5).send(hook, sample_notice())
    assert failed.value.retryable is True and failed.value.status is None
    assert HOOK_PATH not in str(failed.value)


def test_a_redirect_is_not_followed(sink, secrets) -> None:
    # Given Slack answering with a redirect (to somewhere check_target never saw)
    slack, _ = channels(secrets, sink.url)
    sink.fail(SLACK_PATH, status=302)

    # When a notice is sent, Then it fails for good and nothing reaches the redirect's target
    with pytest.raises(DeliveryFailed, match="redirects are not followed") as failed:
        senders(secrets).send(slack, sample_notice())
    assert failed.value.retryable is False and failed.value.status == 302
    assert sink.received("/redirected") == []
    assert "sEcReTtOkEn" not in str(failed.value)


def test_a_closed_port_fails_retryable(secrets) -> None:
    # Given a webhook on a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, hook = channels(secrets, f"http://127.0.0.1:{port}")

    with pytest.raises(DeliveryFailed, match="connection failed") as failed:
        senders(secrets).send(hook, sample_notice())
    assert failed.value.retryable is True


def test_a_url_refused_at_send_time_is_not_tried(sink, secrets) -> None:
    # Given a channel whose URL (now) points at loopback, on AWS
    _, hook = channels(secrets, sink.url)

    # When a notice is sent, Then it fails for good before any request, without the path
    with pytest.raises(DeliveryFailed, match="https only") as failed:
        Senders(secrets, email_from=None, allow_loopback=False).send(hook, sample_notice())
    assert failed.value.retryable is False and HOOK_PATH not in str(failed.value)
    assert sink.received() == []


def test_a_host_that_stops_resolving_fails_retryable(secrets) -> None:
    _, hook = channels(secrets, "https://hooks.example.com")
    with pytest.raises(DeliveryFailed, match="does not resolve") as failed:
        Senders(secrets, email_from=None, allow_loopback=False, resolve=failing_dns).send(hook, sample_notice())
    assert failed.value.retryable is True


def test_a_channel_whose_secret_is_gone_fails_for_good(secrets) -> None:
    slack, _ = channels(secrets, "http://127.0.0.1:9")
    secrets.delete(slack.secret_id)
    with pytest.raises(DeliveryFailed, match="secret is gone") as failed:
        senders(secrets).send(slack, sample_notice())
    assert failed.value.retryable is False


# --- https to the address that was checked -----------------------------------------------------------------------------


def certificate_authority(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA (its certificate) and a server certificate for `name` it signed (certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def subject(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    # Valid for decades, not around "now": OpenSSL checks them against the machine's clock, which the suite's shifted
    # clock (pytest --clock=+400d) does not move
    valid_from, valid_to = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(subject("test CA"))
        .issuer_name(subject("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(subject(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(leaf.public_bytes(pem))
    paths[2].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


@pytest.fixture
def https_server(tmp_path) -> Iterator[tuple[int, Path, list[dict]]]:
    """An HTTPS server on 127.0.0.1 with a certificate for hooks.example.test; yields its port, its CA and what it
    received."""
    ca, cert, key = certificate_authority(tmp_path, "hooks.example.test")
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append({"path": self.path, "host": self.headers["Host"]})
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], ca, received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_https_goes_to_the_checked_address_and_checks_the_certificate_for_the_host(https_server, secrets) -> None:
    # Given a host name that resolves to the server's address (and to nothing else: a second lookup would fail)
    port, ca, received = https_server
    _, hook = channels(secrets, f"https://hooks.example.test:{port}")
    lookups: list[str] = []

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        return resolver("127.0.0.1")(host, port)

    # When a notice is sent, trusting the test CA
    Senders(secrets, email_from=None, allow_loopback=True, resolve=resolve, ca_certs=str(ca)).send(
        hook, sample_notice()
    )

    # Then the request reached the server under the host's name, after one lookup
    assert received == [{"path": HOOK_PATH, "host": f"hooks.example.test:{port}"}]
    assert lookups == ["hooks.example.test"]


def test_https_refuses_a_certificate_for_another_host(https_server, secrets) -> None:
    # Given a name that resolves to the server, whose certificate is for another name
    port, ca, received = https_server
    _, hook = channels(secrets, f"https://other.example.test:{port}")

    # When a notice is sent, Then TLS fails and nothing is received
    with pytest.raises(DeliveryFailed, match="SSLError"):
        Senders(secrets, email_from=None, allow_loopback=True, resolve=resolver("127.0.0.1"), ca_certs=str(ca)).send(
            hook, sample_notice()
        )
    assert received == []


# --- email -------------------------------------------------------------------------------------------------------------


@pytest.fixture
def ses() -> Iterator:
    with mock_aws():
        yield boto3.client("ses", region_name="us-east-1")


def test_an_email_is_sent_through_ses_with_both_parts(ses) -> None:
    # Given a verified sender and an email channel of two people
    ses.verify_email_identity(EmailAddress="headcount@example.com")
    channel = Channel("team-mail", ChannelKind.EMAIL, recipients=("ana@example.com", "bo@example.com"))
    calls: list[dict] = []
    ses.meta.events.register("provide-client-params.ses.SendEmail", lambda params, **_: calls.append(params))

    # When a notice is sent
    sender = Senders(MemorySecrets(), email_from="headcount@example.com", allow_loopback=False, ses=ses)
    sender.send(channel, sample_notice())

    # Then SES took one message to both, with the subject and both parts
    expected = email_message(sample_notice())
    (call,) = calls
    assert call["Message"]["Body"]["Text"] == {"Data": expected.text, "Charset": "UTF-8"}
    assert call["Message"]["Body"]["Html"] == {"Data": expected.html, "Charset": "UTF-8"}
    (sent,) = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert sent.source == "headcount@example.com"
    assert sent.subject == expected.subject == sample_notice().summary
    assert sent.destinations["ToAddresses"] == ["ana@example.com", "bo@example.com"]
    assert sent.body == expected.html  # moto keeps the html part of a message that has one


def test_an_unverified_sender_is_rejected_for_good(ses) -> None:
    channel = Channel("team-mail", ChannelKind.EMAIL, recipients=("ana@example.com",))
    sender = Senders(MemorySecrets(), email_from="nobody@example.com", allow_loopback=False, ses=ses)
    with pytest.raises(DeliveryFailed, match="MessageRejected") as failed:
        sender.send(channel, sample_notice())
    assert failed.value.retryable is False


def test_email_without_a_sender_address_fails_for_good() -> None:
    channel = Channel("team-mail", ChannelKind.EMAIL, recipients=("ana@example.com",))
    with pytest.raises(DeliveryFailed, match="no sender address: HEADCOUNT_EMAIL_FROM") as failed:
        Senders(MemorySecrets(), email_from=None, allow_loopback=False, ses=object()).send(channel, sample_notice())
    assert failed.value.retryable is False


# --- secrets -----------------------------------------------------------------------------------------------------------


def test_secrets_manager_keeps_updates_deletes_and_restores_a_channels_secret() -> None:
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        store = SecretsManagerSecrets("headcount/channels/", sm)

        # Given a channel's secret put, and put again
        first = store.put("team-slack", {"url": "https://hooks.slack.com/services/A"})
        again = store.put("team-slack", {"url": "https://hooks.slack.com/services/B"})

        # Then it is one secret under the prefixed name, holding the last value
        assert first == again and ":secret:headcount/channels/team-slack" in first
        assert store.get(first) == {"url": "https://hooks.slack.com/services/B"}

        # When it is deleted, Then it reads as gone, and is only scheduled for deletion (recoverable)
        store.delete(first)
        with pytest.raises(KeyError):
            store.get(first)
        assert sm.describe_secret(SecretId=first).get("DeletedDate")
        store.delete(first)  # deleting again is fine

        # When a channel of the same name is made again, Then the secret is restored with the new value
        recreated = store.put("team-slack", {"url": "https://hooks.slack.com/services/C"})
        assert store.get(recreated) == {"url": "https://hooks.slack.com/services/C"}
        assert not sm.describe_secret(SecretId=recreated).get("DeletedDate")

        # And a secret never made reads as gone
        with pytest.raises(KeyError):
            store.get("headcount/channels/never")


# --- the local sink ----------------------------------------------------------------------------------------------------


def test_the_sink_records_for_other_readers_and_shows_a_page(sink, secrets) -> None:
    # Given a Slack message and a webhook delivered to the sink
    slack, hook = channels(secrets, sink.url)
    senders(secrets).send(slack, sample_notice())
    senders(secrets).send(hook, sample_notice())

    # Then another reader of its file (another process) sees both, oldest first
    other = LocalSink(0, sink.record_path)
    assert [r["path"] for r in other.received()] == [SLACK_PATH, HOOK_PATH]
    assert len(sink.records) == 2
    # And its page lists them newest first: the webhook's title and summary, then the Slack message's text
    page = urllib3.request("GET", sink.url + "/").data.decode()
    webhook_line = "digest: Yesterday, Sat 5 Dec 2026 — 12,345 active players yesterday"
    assert page.index(webhook_line) < page.index("Slack: 12,345 active players yesterday")


def test_a_sink_fault_lasts_the_times_it_was_told(sink) -> None:
    sink.fail("/x", status=503, times=2)
    statuses = [urllib3.request("POST", sink.url + "/x", body=b"not json").status for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [r["body"] for r in sink.received("/x")] == ["not json"] * 3


def test_the_sinks_page_lists_the_posts_and_the_local_ses_mail_and_shows_a_mail_as_it_would_look(tmp_path):
    import urllib.error
    import urllib.request

    # Given a sink whose mailbox holds one email, and one post received
    mail = {
        "destinations": {"ToAddresses": ["ceo@studio.example"]},
        "subject": "Daily digest",
        "body": "<h1>3,045</h1>",
    }
    with LocalSink(0, tmp_path / "sink.jsonl", mailbox=lambda: [mail]) as sink:
        urllib.request.urlopen(urllib.request.Request(f"{sink.url}/slack", data=b'{"text": "hi"}'), timeout=5)
        # When a person opens its page, then the mail
        page = urllib.request.urlopen(f"{sink.url}/", timeout=5).read().decode()
        shown = urllib.request.urlopen(f"{sink.url}/mail/0", timeout=5).read().decode()
        # Then the page lists both, and the mail is its HTML part; a mail that is not there is a 404
        assert "Slack: hi" in page and "ceo@studio.example" in page and 'href="/mail/0"' in page
        assert shown == "<h1>3,045</h1>"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"{sink.url}/mail/1", timeout=5)
