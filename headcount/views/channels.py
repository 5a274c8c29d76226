"""Sending a notice down a channel: Slack's incoming webhooks and people's webhooks over HTTPS, email through SES, and
the secrets (a Slack URL, a webhook's URL and signing secret) kept in Secrets Manager.

A URL someone typed is where a Lambda function inside the account will POST, so it is held to `check_target` when the
channel is made and again before each send (DNS can change), and the request goes to the very address that was checked
(no second lookup a rebinding DNS could answer differently), with no redirect followed. A failure never shows the URL:
a Slack webhook's path is its secret.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
import urllib3
from botocore.exceptions import BotoCoreError, ClientError

from headcount.core.messages import email_message, slack_message, webhook_request
from headcount.core.notices import Channel, ChannelKind, Notice
from headcount.views.aws import client

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: an IPv4 address behind a NAT64 gateway
_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+")  # a DNS name (ASCII: an IDN in punycode) or an IP literal
_READ_AT_MOST = 1024  # of an answer's body: enough for Slack's reason ("invalid_token"), not a flood


class BadTarget(ValueError):
    """A URL headcount will not send to; the message says why, without the URL's path."""


class TargetUnresolved(BadTarget):
    """The host has no address now: DNS may answer later, so a send may try again."""


class DeliveryFailed(Exception):
    """One attempt failed. `retryable`: the same request may succeed later (a 5xx, 429, timeout, a broken connection)."""

    def __init__(self, detail: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.status = status


# --- where a URL may point --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (lowercase), the Host header's and the TLS certificate's name
    port: int
    path: str  # the path and query: never shown
    addresses: tuple[str, ...]  # what the host resolved to, every one allowed

    @property
    def display(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = {"https": 443, "http": 80}[self.scheme]
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")


def _reached(address: Address) -> Address:
    """The address a packet to `address` ends up at: an IPv6 address carrying an IPv4 one (mapped, 6to4, Teredo, NAT64)
    reaches that one, which is the one to judge."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return address


def _refusal(address: Address, allow_loopback: bool) -> str | None:
    """Why a request must not go to this address (None: it may)."""
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    for quality in ("unspecified", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{quality}"):
            return f"a {quality.replace('_', '-')} address"  # link-local: 169.254.169.254, the instance metadata
    if not address.is_global:
        return "not a global address"  # 100.64.0.0/10, carrier-grade NAT, among others
    return None


def _addresses(host: str, port: int, resolve: Callable[..., Any]) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        answers = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # socket.gaierror is an OSError
        raise TargetUnresolved(f"{host} does not resolve: {error.__class__.__name__}") from None
    found = [ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]) for *_, sockaddr in answers]
    if not found:
        raise TargetUnresolved(f"{host} has no address")
    # IPv4 first: the request goes to the first address, and a Lambda function outside a dual-stack VPC has no IPv6 route
    return sorted(found, key=lambda address: address.version)


def resolve_target(url: str, *, allow_loopback: bool, resolve: Callable[..., Any] = socket.getaddrinfo) -> Target:
    """The target of `url` with the addresses it may be reached at; BadTarget when it may not be."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:  # a port out of range, a malformed IPv6 literal
        raise BadTarget(f"not a valid URL: {error}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("https", "http") or (scheme == "http" and not allow_loopback):
        raise BadTarget(f"scheme {scheme or 'none'!r} refused: https only")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BadTarget("a URL with credentials (user@host) is refused")
    if not host or not _HOST.fullmatch(host):
        raise BadTarget("no valid host in the URL")
    port = port or (443 if scheme == "https" else 80)
    found = _addresses(host, port, resolve)
    for address in found:
        if reason := _refusal(_reached(address), allow_loopback):
            raise BadTarget(f"{host} is {reason} ({address}): only public addresses are allowed")
        if scheme == "http" and not _reached(address).is_loopback:
            raise BadTarget(f"http to {host} refused: plain http is for the local stack's loopback only")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, tuple(str(a) for a in found))


def check_target(url: str, *, allow_loopback: bool, resolve: Callable[..., Any] = socket.getaddrinfo) -> str:
    """What people may see of an allowed URL: "scheme://host[:port]". Raises BadTarget when headcount must not send
    there: on AWS (`allow_loopback` False) only https to a host whose every address is public; on one machine also
    http and https to loopback (the local sink), and still no other private range."""
    return resolve_target(url, allow_loopback=allow_loopback, resolve=resolve).display


# --- secrets ----------------------------------------------------------------------------------------------------------


class ChannelSecrets(Protocol):
    def put(self, name: str, value: dict) -> str:
        """Creates or updates the secret of channel `name`; returns its id."""
        ...

    def get(self, secret_id: str) -> dict:
        """The secret's value; KeyError when there is none (deleted)."""
        ...

    def delete(self, secret_id: str) -> None: ...


class MemorySecrets:
    """Secrets in a dict: tests."""

    def __init__(self) -> None:
        self.values: dict[str, dict] = {}

    def put(self, name: str, value: dict) -> str:
        secret_id = f"memory:{name}"
        self.values[secret_id] = dict(value)
        return secret_id

    def get(self, secret_id: str) -> dict:
        return dict(self.values[secret_id])

    def delete(self, secret_id: str) -> None:
        self.values.pop(secret_id, None)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class SecretsManagerSecrets:
    """One secret per channel, named `<prefix><channel>` ("headcount/channels/team-slack"); its id is its ARN."""

    RECOVERY_DAYS = 7  # a deleted channel's secret can be restored for a week (Secrets Manager allows 7 to 30)

    def __init__(self, prefix: str, secretsmanager_client: Any = None) -> None:
        self.prefix = prefix
        self._client = secretsmanager_client

    @property
    def sm(self) -> Any:
        if self._client is None:
            self._client = client("secretsmanager")
        return self._client

    def put(self, name: str, value: dict) -> str:
        secret_name, text = self.prefix + name, json.dumps(value)
        try:
            return self.sm.create_secret(Name=secret_name, SecretString=text)["ARN"]
        except ClientError as error:
            # ResourceExists: update it. InvalidRequest: a secret of that name is scheduled for deletion (a channel
            # deleted and made again within the recovery window), which Secrets Manager will not create anew.
            if _code(error) not in ("ResourceExistsException", "InvalidRequestException"):
                raise
        if self.sm.describe_secret(SecretId=secret_name).get("DeletedDate"):
            self.sm.restore_secret(SecretId=secret_name)
        return self.sm.put_secret_value(SecretId=secret_name, SecretString=text)["ARN"]

    def get(self, secret_id: str) -> dict:
        try:
            return json.loads(self.sm.get_secret_value(SecretId=secret_id)["SecretString"])
        except ClientError as error:
            # InvalidRequest: scheduled for deletion, which reads as gone
            if _code(error) in ("ResourceNotFoundException", "InvalidRequestException"):
                raise KeyError(secret_id) from None
            raise

    def delete(self, secret_id: str) -> None:
        try:
            self.sm.delete_secret(SecretId=secret_id, RecoveryWindowInDays=self.RECOVERY_DAYS)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return
            # Deleting again what is already scheduled for deletion: done
            if _code(error) == "InvalidRequestException" and self.sm.describe_secret(SecretId=secret_id).get(
                "DeletedDate"
            ):
                return
            raise


# --- sending ----------------------------------------------------------------------------------------------------------

_RETRYABLE_SES = {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure", "RequestTimeout"}


class Senders:
    """One attempt to deliver a notice down a channel; the caller retries what `DeliveryFailed.retryable` allows."""

    def __init__(
        self,
        secrets: ChannelSecrets,
        *,
        email_from: str | None,
        allow_loopback: bool,
        ses: Any | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        resolve: Callable[..., Any] = socket.getaddrinfo,
        ca_certs: str | None = None,  # a CA bundle trusted instead of the system's: tests' own certificate authority
    ) -> None:
        self.secrets = secrets
        self.email_from = email_from
        self.allow_loopback = allow_loopback
        self._ses = ses
        self.timeout_s = timeout_s
        self.clock = clock
        self.resolve = resolve
        # retries=False, redirect=False: one attempt, and a redirect is an answer (it could lead past check_target)
        self._http = urllib3.PoolManager(retries=False, ca_certs=ca_certs, num_pools=8)

    def send(self, channel: Channel, notice: Notice) -> None:
        if channel.kind is ChannelKind.EMAIL:
            self._send_email(channel, notice)
            return
        secret = self._secret(channel)
        if channel.kind is ChannelKind.SLACK:
            body = orjson.dumps(slack_message(notice))
            headers = {"Content-Type": "application/json; charset=utf-8"}
        else:
            signing_secret = secret.get("signing_secret")
            if not isinstance(signing_secret, str) or not signing_secret:
                raise DeliveryFailed(f"webhook {channel.name}: its secret has no signing_secret", retryable=False)
            body, headers = webhook_request(notice, signing_secret, int(self.clock()))
        self._post(channel, secret["url"], body, headers)

    def _secret(self, channel: Channel) -> dict:
        if not channel.secret_id:
            raise DeliveryFailed(f"{channel.kind} {channel.name}: no secret", retryable=False)
        try:
            secret = self.secrets.get(channel.secret_id)
        except KeyError:
            raise DeliveryFailed(f"{channel.kind} {channel.name}: its secret is gone", retryable=False) from None
        except (ClientError, BotoCoreError) as error:
            raise DeliveryFailed(
                f"{channel.kind} {channel.name}: reading its secret failed: {error}", retryable=True
            ) from None
        if not isinstance(secret.get("url"), str):
            raise DeliveryFailed(f"{channel.kind} {channel.name}: its secret has no url", retryable=False)
        return secret

    def _post(self, channel: Channel, url: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            target = resolve_target(url, allow_loopback=self.allow_loopback, resolve=self.resolve)
        except BadTarget as error:
            where = f"{channel.kind} {channel.target or channel.name}"
            raise DeliveryFailed(f"{where}: {error}", retryable=isinstance(error, TargetUnresolved)) from None
        where = f"{channel.kind} {target.display}"
        # To the address just checked, by IP, with the host's name in the Host header and for TLS (SNI and the
        # certificate's check): a second DNS lookup could answer with an address check_target would refuse.
        pool_kwargs = {"server_hostname": target.host} if target.scheme == "https" else {}
        pool = self._http.connection_from_host(target.addresses[0], target.port, target.scheme, pool_kwargs)
        host_header = target.display.split("://", 1)[1]
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(total=self.timeout_s),
                preload_content=False,
            )
        except urllib3.exceptions.NewConnectionError:  # refused, unreachable (a ConnectTimeoutError subclass: first)
            raise DeliveryFailed(f"{where}: connection failed (refused or unreachable)", retryable=True) from None
        except urllib3.exceptions.TimeoutError:
            raise DeliveryFailed(f"{where}: no answer within {self.timeout_s:g} s", retryable=True) from None
        except urllib3.exceptions.HTTPError as error:
            # The error's class only: its message may quote the request, and a Slack URL's path is its secret
            raise DeliveryFailed(f"{where}: connection failed ({error.__class__.__name__})", retryable=True) from None
        try:
            answer = response.read(_READ_AT_MOST, decode_content=False)
        except urllib3.exceptions.HTTPError:
            answer = b""
        finally:
            response.close()
            response.release_conn()
        status = response.status
        if 200 <= status < 300:
            return
        reason = f"HTTP {status} {response.reason or ''}".strip()
        slack_reason = answer.decode("ascii", "replace").strip()
        if channel.kind is ChannelKind.SLACK and re.fullmatch(r"[a-z_]{1,60}", slack_reason):
            reason += f" ({slack_reason})"  # Slack's word for it: invalid_token, channel_not_found, ...
        if 300 <= status < 400:
            raise DeliveryFailed(f"{where}: {reason}: redirects are not followed", retryable=False, status=status)
        retryable = status == 429 or status >= 500
        raise DeliveryFailed(f"{where}: {reason}", retryable=retryable, status=status)

    @property
    def ses(self) -> Any:
        if self._ses is None:
            # One attempt within the send's budget: the caller retries, not boto
            self._ses = client("ses", call_budget_s=max(3, round(self.timeout_s)))
        return self._ses

    def _send_email(self, channel: Channel, notice: Notice) -> None:
        if not self.email_from:
            raise DeliveryFailed("no sender address: HEADCOUNT_EMAIL_FROM", retryable=False)
        if not channel.recipients:
            raise DeliveryFailed(f"email {channel.name}: no recipients", retryable=False)
        message = email_message(notice)
        try:
            self.ses.send_email(
                Source=self.email_from,
                Destination={"ToAddresses": list(channel.recipients)},
                Message={
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": message.text, "Charset": "UTF-8"},
                        "Html": {"Data": message.html, "Charset": "UTF-8"},
                    },
                },
            )
        except ClientError as error:
            code = _code(error)
            # MessageRejected, an unverified address, a paused account: the same request fails again
            raise DeliveryFailed(f"email via SES: {code}", retryable=code in _RETRYABLE_SES) from None
        except BotoCoreError as error:
            raise DeliveryFailed(f"email via SES: {error.__class__.__name__}", retryable=True) from None
