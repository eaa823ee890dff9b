"""Where the network may send a request on a tenant's behalf (webhook endpoints).

A tenant chooses the URL, so without a rule it could make our services call what only they
can reach: the database, the broker, another service, a cloud metadata endpoint
(169.254.169.254), and read the answers back in its delivery log. The rule:

- https only; plain http only to a loopback address, and only when the development setting
  `TALENTLOOP_WEBHOOKS_ALLOW_LOOPBACK_HTTP` is on (off by default);
- no credentials in the URL, no single-label or internal names (`postgres`, `kafka`,
  `intake`, `*.internal`, `*.local`, `localhost`);
- the name must resolve to public addresses only (every answer is checked: one private
  answer refuses the name). Checked when the URL is registered and again at every
  delivery, and the connection is made to an address that was checked (the request goes
  to the IP with the original `Host` header and TLS server name), so a DNS answer that
  changes between the check and the connect ("rebinding") gains nothing;
- no redirects are followed (the dispatcher's client), answers are read only to a bound.

Why not a library: the candidates on PyPI either check the name and let the HTTP client
resolve it again (the rebinding gap) or replace the client; pinning with httpx's public API
(`Host` header plus the `sni_hostname` extension) is a few lines.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses the name resolves to
Resolver = Callable[[str, int], Awaitable[list[str]]]

INTERNAL_SUFFIXES = (".internal", ".local", ".localhost", ".localdomain", ".home.arpa", ".lan", ".intranet", ".corp")


class Refused(ValueError):
    """The destination is not one the network sends tenants' requests to; says why."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, shared (CGNAT),
    reserved, documentation, multicast or unspecified; an IPv4 address embedded in IPv6
    (mapped, 6to4, Teredo) is judged as that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Destinations:
    """The rule above, with the development exception and a resolver passed in."""

    allow_loopback_http: bool = False
    resolver: Resolver = system_resolver

    def check_url(self, url: str) -> SplitResult:
        """What can be judged without the network: scheme, credentials, the kind of name."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise Refused(f"not a valid URL: {exc}") from None
        host = (parts.hostname or "").rstrip(".").lower()
        if parts.scheme not in ("https", "http") or not host:
            raise Refused("the URL must be https:// with a host")
        if parts.username or parts.password:
            raise Refused("the URL must not carry credentials; the signature authenticates us to you")
        if port == 0:
            raise Refused("port 0 cannot be reached")
        literal = _literal(host)
        if parts.scheme == "http":
            if not (self.allow_loopback_http and (host == "localhost" or (literal is not None and literal.is_loopback))):
                raise Refused("the URL must be https:// (plain http is only for a loopback receiver in development)")
            return parts
        if literal is not None:
            self.check_address(literal)
        elif "." not in host or host == "localhost" or host.endswith(INTERNAL_SUFFIXES):
            raise Refused(f"{host!r} is an internal name; use a public DNS name")
        return parts

    def check_address(self, address: IPAddress) -> None:
        if is_public(address):
            return
        if self.allow_loopback_http and address.is_loopback:
            return
        raise Refused(f"{address} is not a public address (private, loopback, link-local or reserved)")

    async def resolve(self, url: str) -> tuple[SplitResult, str]:
        """The URL checked, and one checked address to connect to. Every address the name
        resolves to must pass: a name with one private answer among public ones is refused."""
        parts = self.check_url(url)
        host = (parts.hostname or "").rstrip(".").lower()
        literal = _literal(host)
        if literal is not None:
            return parts, str(literal)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            answers = await self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise Refused(f"{host!r} does not resolve: {exc}") from None
        if not answers:
            raise Refused(f"{host!r} does not resolve")
        for answer in answers:
            try:
                self.check_address(ipaddress.ip_address(answer.split("%", 1)[0]))
            except ValueError as exc:
                raise Refused(f"{host!r} resolves to {answer}: {exc}") from None
        return parts, answers[0].split("%", 1)[0]

    async def pinned_request(
        self, client: httpx.AsyncClient, method: str, url: str, *, content: bytes, headers: dict[str, str]
    ) -> httpx.Request:
        """A request to the checked address of `url`'s host, which the server still sees
        as addressed to the name (Host header; TLS server name and certificate check)."""
        parts, address = await self.resolve(url)
        host = parts.hostname or ""
        target = httpx.URL(url).copy_with(host=address)
        request = client.build_request(
            method, target, content=content, headers={**headers, "Host": parts.netloc.rsplit("@", 1)[-1]}
        )
        if parts.scheme == "https":
            request.extensions["sni_hostname"] = host
        return request


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
