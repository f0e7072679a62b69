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
