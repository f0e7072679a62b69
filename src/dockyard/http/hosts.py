"""Is a Host header one of this server's own names? Used where a URL is built from
the request (the token realm, same-origin checks) and no `public_url` is configured,
so a forged Host never becomes a URL Dockyard hands out."""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Sequence
from fnmatch import fnmatchcase


@functools.cache
def _own_names() -> frozenset[str]:
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower())
    return frozenset(names)


@functools.lru_cache(maxsize=256)
def _is_local_address(host: str) -> bool:
    """True when `host` is an IP address of this machine (binding to it succeeds)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    if address.is_unspecified or address.is_multicast:
        return False
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


def is_own_host(hostname: str, trusted: Sequence[str] = ()) -> bool:
    """`hostname` (no port, IPv6 without brackets) names this server."""
    host = hostname.strip("[]").lower().rstrip(".")
    if not host:
        return False
    if host in _own_names() or host.endswith(".localhost"):
        return True
    if any(fnmatchcase(host, pattern.lower()) for pattern in trusted):
        return True
    return _is_local_address(host)


@functools.lru_cache(maxsize=16)
def _networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in trusted)


def _trusted(
    address: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def forwarded_client(peer: str, forwarded_for: str | None, trusted: Sequence[str]) -> str:
    """The client's address. Only when the TCP peer is a trusted proxy (an Ingress,
    a load balancer: `server.trusted_proxies`) is X-Forwarded-For believed: the
    rightmost address in it that is not itself a trusted proxy is the client. From
    anyone else the header is ignored, so it cannot be used to dodge throttling."""
    if not trusted or not forwarded_for:
        return peer
    networks = _networks(tuple(trusted))
    if not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")][-32:]
    for hop in reversed(hops):
        if not hop:
            break
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a hop that is no address: trust nothing beyond it
        if not _trusted(hop, networks):
            return hop
    return peer
