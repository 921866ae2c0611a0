"""Who may read the in-process exposition: a bearer token and an allow-list of networks.

Both are optional and apply on the app's port and on ``AZORA_METRICS_PORT`` alike:

- ``AZORA_METRICS_TOKEN`` (the token itself) or ``AZORA_METRICS_TOKEN_FILE`` (a file
  holding it, read once at start-up, surrounding whitespace ignored): a scrape must
  send ``Authorization: Bearer <token>``; the comparison takes constant time.
  Anything else gets 401 with ``WWW-Authenticate: Bearer realm="metrics"``.
- ``AZORA_METRICS_ALLOWED_NETWORKS`` (comma-separated CIDRs or addresses): the
  connection's peer address, as the server reports it, must be in one of them;
  anything else gets 403. Behind a reverse proxy the peer is the proxy, unless the
  server itself is told to trust forwarded headers (uvicorn ``--forwarded-allow-ips``);
  ``X-Forwarded-For`` is never read here, since any client can send it.

**Fail closed.** A protection that was asked for but cannot be used (an empty token,
a token file that is missing, unreadable or empty, a network that does not parse,
both token variables at once) is reported like every invalid setting, and the
exposition is then *locked*: every request gets 503 until the setting is fixed and
the service restarted. It is never served unprotected by mistake. The token never
appears in messages, in ``repr`` or in ``azora-otel check-config``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from azora_otel._variables import (
    AZORA_METRICS_ALLOWED_NETWORKS,
    AZORA_METRICS_TOKEN,
    AZORA_METRICS_TOKEN_FILE,
)

REALM = "metrics"
_MAX_TOKEN_FILE_BYTES = 4096
_TOKEN_CHARS = frozenset(range(0x21, 0x7F))
"""Visible ASCII: what an ``Authorization`` header carries verbatim."""

_log = logging.getLogger("azora_otel")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Denial:
    """The answer to a request the access rules refuse."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


_LOCKED = Denial(
    503,
    (),
    b"metrics exposition unavailable: its access settings are invalid (see the service log)\n",
)
_FORBIDDEN = Denial(403, (), b"forbidden\n")
_NO_TOKEN = Denial(401, (("WWW-Authenticate", f'Bearer realm="{REALM}"'),), b"unauthorized\n")
_BAD_TOKEN = Denial(
    401,
    (("WWW-Authenticate", f'Bearer realm="{REALM}", error="invalid_token"'),),
    b"unauthorized\n",
)


@dataclass(frozen=True, repr=False)
class MetricsAccess:
    """The exposition's access rules. The token is kept out of ``repr``."""

    token: bytes | None = None
    networks: tuple[Network, ...] = ()
    locked: bool = False

    def __post_init__(self) -> None:
        """Built in code, a bad value is a programmer's error (the token is never shown)."""
        token = self.token
        if token is not None and not (
            isinstance(token, bytes) and token and set(token) <= _TOKEN_CHARS
        ):
            raise ValueError(
                "invalid MetricsAccess.token: expected None or non-empty bytes of visible "
                "ASCII (what an Authorization header carries)"
            )
        if not isinstance(self.networks, tuple) or not all(
            isinstance(n, ipaddress.IPv4Network | ipaddress.IPv6Network) for n in self.networks
        ):
            raise ValueError(
                f"invalid MetricsAccess.networks={self.networks!r}: expected a tuple of "
                "ipaddress networks"
            )
        if not isinstance(self.locked, bool):
            raise ValueError(  # noqa: TRY004 - one exception type for every bad field
                f"invalid MetricsAccess.locked={self.locked!r}: expected a bool"
            )

    def __repr__(self) -> str:
        networks = ",".join(str(n) for n in self.networks) or "any"
        return f"MetricsAccess(protection={self.protection!r}, networks={networks!r})"

    @property
    def protection(self) -> str:
        """``none``, ``token``, ``networks``, ``token+networks`` or ``locked``."""
        if self.locked:
            return "locked"
        parts = [p for p, on in (("token", self.token), ("networks", self.networks)) if on]
        return "+".join(parts) or "none"

    def check(self, authorization: Sequence[bytes], client_host: str | None) -> Denial | None:
        """``None`` when the request may read the exposition, else the answer to send.

        ``authorization`` holds the values of every ``Authorization`` header sent.
        """
        if self.locked:
            return _LOCKED
        if self.networks and not _in_networks(client_host, self.networks):
            return _FORBIDDEN
        if self.token is None:
            return None
        if not authorization:
            return _NO_TOKEN
        scheme, _, credentials = authorization[0].strip().partition(b" ")
        valid = (
            len(authorization) == 1
            and scheme.lower() == b"bearer"
            and hmac.compare_digest(credentials.strip(), self.token)
        )
        return None if valid else _BAD_TOKEN


OPEN = MetricsAccess()
"""No protection: whoever reaches the exposition may read it."""


def _client_address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _in_networks(host: str | None, networks: Sequence[Network]) -> bool:
    address = _client_address(host)
    if address is None:  # a Unix socket, a test client: not an address we can vouch for
        return False
    return any(address.version == n.version and address in n for n in networks)


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host == "localhost":
        return True
    address = _client_address(host)
    return address is not None and address.is_loopback


def access_from(
    token_file: str | None, token: str | None, networks: str | None, problems: list[str]
) -> MetricsAccess:
    """The access rules from the three variables as given (``None``: unset); each
    unusable one adds a message to ``problems`` and locks the exposition."""
    found: list[str] = []
    secret = _token(token, token_file, found)
    allowed = _networks(networks, found)
    problems.extend(found)
    if found:
        return MetricsAccess(locked=True)
    return MetricsAccess(token=secret, networks=allowed)


_LOCKED_NOTE = "the exposition answers 503 to every request until it is fixed"


def _token(raw: str | None, path: str | None, problems: list[str]) -> bytes | None:
    token_name, file_name = AZORA_METRICS_TOKEN.name, AZORA_METRICS_TOKEN_FILE.name
    if raw is not None and path is not None:
        problems.append(
            f"invalid {token_name} and {file_name}: both are set, set only one; {_LOCKED_NOTE}"
        )
        return None
    if raw is not None:
        return _checked_token(raw.encode("utf-8", "replace"), token_name, problems)
    if path is None:
        return None
    content = _read_token_file(path, problems)
    if content is None:
        return None
    return _checked_token(content, f"{file_name}={path!r}", problems)


def _read_token_file(path: str, problems: list[str]) -> bytes | None:
    what = f"invalid {AZORA_METRICS_TOKEN_FILE.name}={path!r}"
    if not path.strip():
        problems.append(f"{what}: expected a file path; {_LOCKED_NOTE}")
        return None
    try:
        with open(path, "rb") as handle:
            content = handle.read(_MAX_TOKEN_FILE_BYTES + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        problems.append(f"{what}: cannot read it ({reason}); {_LOCKED_NOTE}")
        return None
    if len(content) > _MAX_TOKEN_FILE_BYTES:
        problems.append(
            f"{what}: larger than {_MAX_TOKEN_FILE_BYTES} bytes, not a token file; {_LOCKED_NOTE}"
        )
        return None
    return content


def _checked_token(value: bytes, what: str, problems: list[str]) -> bytes | None:
    token = value.strip()
    if not token:
        problems.append(f"invalid {what}: the token is empty; {_LOCKED_NOTE}")
        return None
    if not set(token) <= _TOKEN_CHARS:
        problems.append(
            f"invalid {what}: the token holds spaces or characters outside visible ASCII, "
            f"which an Authorization header cannot carry; {_LOCKED_NOTE}"
        )
        return None
    return token


def _networks(raw: str | None, problems: list[str]) -> tuple[Network, ...]:
    if raw is None:
        return ()
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    networks: list[Network] = []
    bad: list[str] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            bad.append(entry)
    if bad or not entries:
        shown = ", ".join(repr(b) for b in bad) if bad else "nothing"
        problems.append(
            f"invalid {AZORA_METRICS_ALLOWED_NETWORKS.name}={raw!r}: {shown} is not a network "
            f"(expected CIDRs or addresses such as 10.0.0.0/8,192.168.1.7); {_LOCKED_NOTE}"
        )
        return ()
    return tuple(networks)


_warned: set[str] = set()


def warn_if_exposed(access: MetricsAccess, server_host: str | None, where: str) -> None:
    """Say once per ``where`` that an unprotected exposition is reachable beyond loopback.

    ``server_host`` is a local address: for the separate port the address it is bound
    to, known at start-up; on the app's port the local address the scrape arrived on
    (the first scrape that arrives on a non-loopback address tells). Anything that is
    not an IP address (an in-process test client's made-up host) says nothing.
    """
    if access.protection != "none" or where in _warned:
        return
    address = _client_address(server_host)
    if address is None or address.is_loopback:
        return
    _warned.add(where)
    detail = (
        f"/metrics is served without protection on {where} at {address}, reachable from "
        f"other hosts: set {AZORA_METRICS_TOKEN_FILE.name} or "
        f"{AZORA_METRICS_ALLOWED_NETWORKS.name}"
        + (", or bind it to 127.0.0.1 (AZORA_METRICS_HOST)" if where != "the app's port" else "")
    )
    _log.warning(
        "azora-otel: %s",
        detail,
        extra={"azora": {"event": "exposition_unprotected", "pid": os.getpid(), "detail": detail}},
    )
