"""The test settings refuse every destination outside 127.0.0.0/8."""

import socket

import httpx
import pytest

from studio import netguard


def test_the_guard_is_installed_by_the_test_settings():
    assert netguard.installed()


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.1.1", "8.8.8.8", "169.254.169.254"])
def test_a_connection_outside_loopback_is_refused_before_any_packet(address):
    with socket.socket() as sock, pytest.raises(netguard.NetworkGuardError):
        sock.connect((address, 80))


def test_a_udp_datagram_outside_loopback_is_refused():
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        pytest.raises(netguard.NetworkGuardError),
    ):
        sock.sendto(b"x", ("1.1.1.1", 53))


def test_a_name_lookup_for_a_public_name_is_refused():
    with pytest.raises(socket.gaierror, match="network guard"):
        socket.getaddrinfo("example.com", 443)


def test_an_http_client_cannot_reach_the_internet():
    with pytest.raises(httpx.ConnectError):
        httpx.get("http://93.184.216.34/", timeout=2)


def test_loopback_stays_reachable():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert socket.getaddrinfo("localhost", 80)
