"""A guard that keeps a process from reaching anything outside 127.0.0.0/8.

Installed by the test settings, so the suite — and every server or worker it starts with those
settings — can talk to loopback only: a connection or a name lookup for anything else raises
`NetworkGuardError` instead of sending a packet. Tests of code that resolves names use a
resolver double, never the real resolver.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_installed = False


class NetworkGuardError(ConnectionRefusedError):
    """Raised instead of connecting anywhere outside loopback."""


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _check(family: int, address: object) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets and the like stay on this machine.
    host = address[0] if isinstance(address, tuple) else str(address)
    if not is_loopback(str(host)):
        raise NetworkGuardError(f"network guard: connection to {host!r} refused (loopback only)")


def install() -> None:
    """Patch the socket module of this process; idempotent."""
    global _installed
    if _installed:
        return
    _installed = True

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto
    original_getaddrinfo = socket.getaddrinfo
    original_gethostbyname = socket.gethostbyname
    original_gethostbyname_ex = socket.gethostbyname_ex

    def connect(self: socket.socket, address: Any) -> None:
        _check(self.family, address)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self.family, address)
        return original_connect_ex(self, address)

    def sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        _check(self.family, args[-1])
        return original_sendto(self, data, *args)

    def _check_name(host: object) -> None:
        if host is None:
            return
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not is_loopback(name):
            raise socket.gaierror(
                socket.EAI_NONAME, f"network guard: lookup of {name!r} refused (loopback only)"
            )

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> list:
        _check_name(host)
        return original_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        _check_name(host)
        return original_gethostbyname(host)

    def gethostbyname_ex(host: str) -> tuple:
        _check_name(host)
        return original_gethostbyname_ex(host)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex


def installed() -> bool:
    return _installed
