"""Who sent a request: the client's address as the reverse proxies the operator trusts report it.

Behind a proxy every request comes from the proxy's address. Limits kept per address (failed
logins, the web chat's) would then fall on everyone at once, so the address is read from
`X-Forwarded-For` — only when the request came from a proxy listed in `MAAK_TRUSTED_PROXIES`,
since anyone else can write that header.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

Network = IPv4Network | IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDRs ("10.0.0.0/8, 127.0.0.1"); ValueError on a bad one."""
    return tuple(ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


def in_networks(address: str, networks: tuple[Network, ...]) -> bool:
    """True when `address` is an IP address inside one of `networks`."""
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: web.Request, trusted: tuple[Network, ...]) -> str:
    """The address of the client: the nearest hop of `X-Forwarded-For` that is not a trusted proxy.

    Read from the right, because each proxy appends the address it was reached from; entries
    left of the first untrusted hop were written by the client and prove nothing.
    """
    remote = request.remote or ""
    if not in_networks(remote, trusted):
        return remote
    hops = [hop.strip() for header in request.headers.getall("X-Forwarded-For", ()) for hop in header.split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not in_networks(hop, trusted):
            return hop[:64]
    return remote
