"""Where webhooks may go: public addresses only, unless the operator allows more.

Users register webhook URLs, so a URL is a request to make Footfall connect somewhere: to its own
loopback, the private network or the cloud metadata service (SSRF). Every address a URL resolves
to is checked, not the host as written (resolvers read ``2130706434`` and ``0x7f.0.0.2`` as
127.0.0.2), and the delivery connects to a checked address (``pinned_request_parts``), so that DNS
cannot answer differently between the check and the connection.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TypeAlias

import httpx

from footfall.exceptions import ConfigurationError, InvalidWebhook, UnsafeTarget

__all__ = [
    "ALLOW_HOSTS_SETTING",
    "MAX_URL_LENGTH",
    "Address",
    "AllowList",
    "Resolver",
    "Target",
    "check_address",
    "parse_url",
    "pinned_request_parts",
    "refuse_reason",
    "resolve",
]

ALLOW_HOSTS_SETTING = "FOOTFALL_WEBHOOK_ALLOW_HOSTS"
MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

Address: TypeAlias = IPv4Address | IPv6Address
Resolver: TypeAlias = Callable[[str, int], Awaitable[list[str]]]

# Instance metadata services: AWS, GCP, Azure, Oracle (169.254.169.254), AWS over IPv6, ECS task
# metadata, Alibaba (100.100.100.200) and Azure's wire server, which sits in public address space.
_METADATA = frozenset(
    ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
    )
)
_SHARED = ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_PRIVATE = tuple(
    ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# Not globally reachable, though Python before 3.11.10 calls them global.
_NOT_GLOBAL = tuple(ip_network(n) for n in ("192.0.0.0/24", "3fff::/20"))
_NAT64 = ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_URL_HOST = re.compile(r"[a-z0-9_.-]+|[0-9a-f:.]+", re.IGNORECASE)


def _embedded_ipv4(address: Address) -> IPv4Address | None:
    """The IPv4 address that an IPv4-mapped, NAT64 or 6to4 address carries, which is where a
    connection to it ends up."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _unwrap(address: Address) -> Address:
    return _embedded_ipv4(address) or address


@dataclass(frozen=True, slots=True)
class AllowList:
    """The hosts, addresses and networks the operator lets webhooks reach although they are not
    public (FOOTFALL_WEBHOOK_ALLOW_HOSTS)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Comma-separated host names, IP addresses and CIDR networks. An IP address is kept as
        a one-address network only, never as a host name: ``127.0.0.1.`` is a name that DNS may
        resolve anywhere, and must not pass for the address."""
        hosts: set[str] = set()
        networks: list[IPv4Network | IPv6Network] = []
        for raw in text.split(","):
            entry = raw.strip().lower()
            if entry.startswith("[") and entry.endswith("]"):
                entry = entry[1:-1]
            if not entry:
                continue
            network = _allowed_network(entry)
            if network is None:
                hosts.add(entry.removesuffix("."))
            else:
                networks.append(network)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().removesuffix(".") in self.hosts

    def allows_address(self, address: Address) -> bool:
        """The address, or the IPv4 address an IPv4-mapped one is, in an allowed network (not
        the IPv4 inside a NAT64 or 6to4 address: a connection to those goes to a relay)."""
        mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
        return any(a in n for a in {address, mapped or address} for n in self.networks)


def _allowed_network(entry: str) -> IPv4Network | IPv6Network | None:
    """The entry as a network, None for a host name; ConfigurationError for neither."""
    try:
        return ip_network(entry, strict=False)
    except ValueError:
        pass
    if "/" in entry or not _HOST_NAME.fullmatch(entry):
        kind = "a CIDR network" if "/" in entry else "a host name, IP address or CIDR network"
        raise ConfigurationError(f"{ALLOW_HOSTS_SETTING}: {entry!r} is not {kind}")
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL whose every address passed the guard; connect to one of those only."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _invalid(message: str) -> InvalidWebhook:
    return InvalidWebhook(message, field="url")


def parse_url(url: str) -> httpx.URL:
    """The URL if it is an absolute http(s) URL with a host and no credentials."""
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    try:
        url.encode()
    except UnicodeEncodeError:
        raise _invalid("webhook URL is not valid Unicode (it holds a lone surrogate)") from None
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise _invalid(f"webhook URL is not a valid URL: {exc}") from None
    if parsed.scheme not in DEFAULT_PORTS:
        found = f"not {parsed.scheme!r}" if parsed.scheme else "and be absolute"
        raise _invalid(f"webhook URL must use http or https, {found}")
    if not parsed.host:
        raise _invalid("webhook URL has no host")
    if parsed.userinfo:
        raise _invalid("webhook URL must not contain credentials; use basicAuth instead")
    if not _URL_HOST.fullmatch(_ascii_host(parsed)):
        raise _invalid(f"webhook URL host {parsed.host!r} is not a valid host name or address")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise _invalid(f"webhook URL port {parsed.port} is not between 1 and 65535")
    if len(str(parsed)) > MAX_URL_LENGTH:
        raise _invalid(f"webhook URL is longer than {MAX_URL_LENGTH} characters once encoded")
    return parsed


def _ascii_host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii")


def refuse_reason(address: Address) -> str | None:
    """Why this address is no public target, or None when it is one; an address that embeds an
    IPv4 address (IPv4-mapped, NAT64, 6to4) is judged by the address it embeds."""
    address = _unwrap(address)
    if address in _METADATA:
        return "cloud metadata"
    for reason, applies in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("carrier-grade NAT", address in _SHARED),
        ("site-local", isinstance(address, IPv6Address) and address.is_site_local),
        ("private", any(address in n for n in _PRIVATE)),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global or any(address in n for n in _NOT_GLOBAL)),
    ):
        if applies:
            return reason
    return None


def check_address(host: str, address: str, allow: AllowList) -> None:
    """Raise UnsafeTarget unless the address is public, or the allow list names the host or
    covers the address."""
    try:
        parsed = ip_address(address)
    except ValueError:
        raise UnsafeTarget(
            f"{host} resolves to {address!r}, not an IP address", field="url"
        ) from None
    reason = refuse_reason(parsed)
    if reason is None or allow.allows_host(host) or allow.allows_address(parsed):
        return
    raise UnsafeTarget(
        f"webhook URL host {host} resolves to {address} ({reason}); Footfall sends webhooks to "
        f"{reason} addresses only if {ALLOW_HOSTS_SETTING} allows them",
        field="url",
    )


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve(url: str, allow: AllowList, *, resolver: Resolver | None = None) -> Target:
    """The checked target of a webhook URL: InvalidWebhook if it cannot be parsed or resolved,
    UnsafeTarget if any address it resolves to is refused (one bad answer is enough: the
    connection may use it)."""
    parsed = parse_url(url)
    host = _ascii_host(parsed)
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    try:
        found = await (resolver or _getaddrinfo)(host, port)
    except (OSError, UnicodeError) as exc:
        raise _invalid(f"cannot resolve webhook URL host {host}: {exc}") from exc
    addresses = tuple(dict.fromkeys(found))
    if not addresses:
        raise _invalid(f"cannot resolve webhook URL host {host}: no addresses")
    for address in addresses:
        check_address(host, address, allow)
    return Target(str(parsed), parsed.scheme, host, port, addresses)


def pinned_request_parts(
    target: Target, address: str
) -> tuple[httpx.URL, dict[str, str], dict[str, object]]:
    """The URL that connects to this checked address, the Host header of the original host and,
    for https, the request extension that keeps TLS (SNI and certificate check) on that host."""
    if address not in target.addresses:
        raise ValueError(f"{address} is not one of the checked addresses of {target.host}")
    url = httpx.URL(target.url).copy_with(host=address)
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != DEFAULT_PORTS[target.scheme]:
        host = f"{host}:{target.port}"
    extensions: dict[str, object] = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.host
    return url, {"Host": host}, extensions
