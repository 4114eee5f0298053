"""http(s):// inputs, fetched without letting a caller reach what it should not (SSRF).

Off unless `http_fetch` is set. When on:
- only http and https; the host is resolved once and every address it resolves to must be
  public (no loopback, private, link-local — cloud metadata at 169.254.169.254 —, multicast,
  reserved or unspecified), unless inside `http_fetch_allowed_networks` (an internal media
  server the operator names);
- the connection goes to the address that was checked (a DNS answer that changes between
  the check and the connect cannot redirect it), TLS still verifies the host name;
- redirects are followed by hand, each hop checked the same way, at most MAX_REDIRECTS;
- the body is streamed to a scratch file and cut at `http_fetch_max_bytes`.
Why stdlib http.client: it lets us pin the address and verify TLS against the name; the
convenient clients resolve names themselves.
"""
from __future__ import annotations

import asyncio
import http.client
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from mediamesh.errors import (
    InvalidArgument,
    MediaNotFound,
    MeshError,
    RemoteHostNotAllowed,
    StatusCode,
    StorageUnavailable,
)

MAX_REDIRECTS = 3
CHUNK = 1 << 20
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchPolicy:
    allowed_networks: tuple[IpNetwork, ...] = ()
    max_bytes: int = 2 << 30
    timeout_s: float = 60.0

    @classmethod
    def of(cls, networks: Sequence[str], max_bytes: int, timeout_s: float) -> FetchPolicy:
        try:
            parsed = tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        except ValueError as exc:
            raise ValueError(f"http_fetch_allowed_networks: {exc}") from exc
        return cls(parsed, max_bytes, timeout_s)


def address_allowed(address: IpAddress, policy: FetchPolicy) -> bool:
    """Public addresses, and those the operator allowed explicitly."""
    if any(address in network for network in policy.allowed_networks):
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return address.is_global and not (address.is_multicast or address.is_reserved
                                      or address.is_unspecified)


def _target(url: str, field_name: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path?query) of an http(s) URL, or INVALID_ARGUMENT."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidArgument(f"{field_name} '{url[:200]}' is not a valid URL: {exc}",
                              field_name=field_name) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{field_name} must be an http:// or https:// URL with a host",
                              field_name=field_name)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


async def _checked_address(host: str, port: int, policy: FetchPolicy, url: str,
                           field_name: str) -> str:
    """The one address we will connect to, after every answer for `host` passed."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidArgument(f"{field_name}: host '{host}' does not resolve ({exc.strerror})",
                              field_name=field_name) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    refused = [a for a in addresses if not address_allowed(a, policy)]
    if refused or not addresses:
        raise RemoteHostNotAllowed(
            f"{field_name} '{url[:200]}' resolves to {refused[0] if refused else 'nothing'}, "
            "a loopback, private, link-local or reserved address the mesh may not fetch from; "
            "put the media in the media root, or ask the operator to add the network to "
            "http_fetch_allowed_networks", field_name=field_name, resource=host)
    return str(addresses[0])


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address while verifying the certificate for the host name."""

    def __init__(self, address: str, port: int, hostname: str, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._hostname = hostname

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._hostname)  # type: ignore[attr-defined]


def _download(scheme: str, address: str, port: int, host: str, path: str, target: Path,
              policy: FetchPolicy, url: str, field_name: str) -> str | None:
    """GET into `target`; returns a redirect's Location instead when there is one."""
    connection: http.client.HTTPConnection = (
        _PinnedHTTPS(address, port, host, policy.timeout_s) if scheme == "https"
        else http.client.HTTPConnection(address, port, timeout=policy.timeout_s))
    try:
        connection.request("GET", path, headers={"Host": host if port in (80, 443)
                                                 else f"{host}:{port}",
                                                 "User-Agent": "mediamesh"})
        reply = connection.getresponse()
        if reply.status in (301, 302, 303, 307, 308):
            return reply.getheader("Location") or ""
        if reply.status == 404:
            raise MediaNotFound(f"{field_name} '{url[:200]}' answered 404", resource=url[:200])
        if reply.status != 200:
            raise StorageUnavailable(f"{field_name} '{url[:200]}' answered HTTP {reply.status}",
                                     resource=url[:200])
        declared = int(reply.getheader("Content-Length") or 0)
        if declared > policy.max_bytes:
            raise _too_large(field_name, declared, policy)
        written = 0
        with target.open("wb") as out:
            while chunk := reply.read(CHUNK):
                written += len(chunk)
                if written > policy.max_bytes:
                    raise _too_large(field_name, written, policy)
                out.write(chunk)
        return None
    except (OSError, http.client.HTTPException) as exc:
        raise StorageUnavailable(f"fetching {field_name} '{url[:200]}' failed: {exc}",
                                 resource=url[:200]) from exc
    finally:
        connection.close()


def _too_large(field_name: str, size: int, policy: FetchPolicy) -> MeshError:
    return MeshError(f"{field_name} is over {policy.max_bytes} bytes (at least {size}); the "
                     "server's http_fetch_max_bytes limits remote inputs",
                     StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED", field_name=field_name)


async def fetch(url: str, target: Path, policy: FetchPolicy, field_name: str) -> None:
    """Download `url` into `target`, each hop checked (see the module docstring)."""
    for _ in range(MAX_REDIRECTS + 1):
        scheme, host, port, path = _target(url, field_name)
        address = await _checked_address(host, port, policy, url, field_name)
        location = await asyncio.to_thread(_download, scheme, address, port, host, path,
                                           target, policy, url, field_name)
        if location is None:
            return
        url = urljoin(url, location)
    raise InvalidArgument(f"{field_name} redirected more than {MAX_REDIRECTS} times",
                          field_name=field_name)
