"""The guarded fetcher: the only way the studio itself fetches a URL.

http(s) only; the host is resolved once and the connection is made to that checked address
(no second lookup, so DNS rebinding cannot slip past); private, loopback, link-local,
multicast and reserved addresses are refused unless allow-listed in STUDIO_FETCH_ALLOWED_HOSTS;
every redirect hop is checked again; the body is streamed with a size cap and a total-time cap;
the content type is checked.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

import httpx
from django.conf import settings

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class FetchError(Exception):
    """The URL could not be fetched safely; `reason` is a short code, the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class FetchResult:
    url: str
    content_type: str
    size: int
    redirects: int


@dataclass(frozen=True)
class PostResult:
    status: int
    answer: str  # the start of the body that came back


ANSWER_KEPT = 500


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system, once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def _allowed_networks(entries: Iterable[str]) -> tuple[set[str], list[ipaddress._BaseNetwork]]:
    names: set[str] = set()
    networks: list[ipaddress._BaseNetwork] = []
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)
    return names, networks


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class Writable(Protocol):
    """Where a fetch writes: an open file, a temporary file or an uploaded-file object."""

    def write(self, data: bytes, /) -> object: ...


class GuardedFetcher:
    """Fetches one URL at a time under the studio's rules; see the module docstring."""

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        allowed_hosts: Iterable[str] | None = None,
        client: httpx.Client | None = None,
    ):
        self.resolver = resolver or system_resolver
        entries = settings.STUDIO_FETCH_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts
        self._allowed_names, self._allowed_networks = _allowed_networks(entries)
        self._client = client

    def _check_url(self, url: str) -> tuple[httpx.URL, str, int]:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise FetchError("url", "That is not a valid URL.") from None
        if parsed.scheme not in ("http", "https"):
            raise FetchError("scheme", "Only http and https URLs can be fetched.")
        host = parsed.host
        if not host:
            raise FetchError("url", "The URL has no host.")
        if parsed.userinfo:
            raise FetchError("url", "URLs with a user name or password are not fetched.")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return parsed, host.lower(), port

    def _address_for(self, host: str, port: int) -> str:
        """Resolve once and return the one checked address to connect to."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = self.resolver(host, port)
            except (OSError, UnicodeError):
                raise FetchError("dns", f"The host {host} could not be resolved.") from None
            if not addresses:
                raise FetchError("dns", f"The host {host} could not be resolved.")
        host_allowed = host in self._allowed_names
        for raw in addresses:
            try:
                address = ipaddress.ip_address(raw.split("%", 1)[0])
            except ValueError:
                raise FetchError("dns", f"The host {host} resolved to a bad address.") from None
            if host_allowed or _public(address):
                continue
            if any(address in network for network in self._allowed_networks):
                continue
            raise FetchError(
                "address", f"The host {host} points to an internal address, which is not fetched."
            )
        return addresses[0]

    def check(self, url: str) -> None:
        """Raise FetchError unless `url` is one this fetcher would send to (scheme, host,
        and every address it resolves to)."""
        _, host, port = self._check_url(url)
        self._address_for(host, port)

    def _send(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        seconds: float,
        read_seconds: float,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request to the one checked address of `url`'s host (no second lookup), streamed;
        FetchError when it cannot be sent or no answer comes."""
        parsed, host, port = self._check_url(url)
        address = self._address_for(host, port)
        target = parsed.copy_with(host=address, port=port)
        host_header = host if parsed.port is None else f"{host}:{port}"
        extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
        request = client.build_request(
            method,
            target,
            content=content,
            headers={**headers, "Host": host_header},
            extensions={
                **extensions,
                "timeout": {
                    "connect": min(10.0, seconds),
                    "read": min(read_seconds, seconds),
                    "write": min(10.0, seconds),
                    "pool": min(10.0, seconds),
                },
            },
        )
        try:
            return client.send(request, stream=True)
        except httpx.TimeoutException:
            raise FetchError("timeout", "The server did not answer in time.") from None
        except httpx.HTTPError as error:
            raise FetchError("connect", f"Could not reach it ({type(error).__name__}).") from None

    def post(
        self, url: str, *, body: bytes, headers: dict[str, str], total_seconds: float = 15.0
    ) -> PostResult:
        """POST `body` to `url` under the same rules; a redirect is not followed (its status is
        the answer). Raises FetchError when nothing could be sent or no answer came."""
        client = self._client or _fetch_client()
        response = self._send(
            client,
            "POST",
            url,
            headers=headers,
            seconds=total_seconds,
            read_seconds=total_seconds,
            content=body,
        )
        try:
            kept = b""
            for chunk in response.iter_bytes(CHUNK):
                kept += chunk
                if len(kept) >= ANSWER_KEPT * 4:
                    break
            answer = kept.decode("utf-8", "replace").replace("\x00", "")[:ANSWER_KEPT]
            return PostResult(status=response.status_code, answer=answer)
        except httpx.HTTPError:
            return PostResult(status=response.status_code, answer="")
        finally:
            response.close()

    def fetch(
        self,
        url: str,
        dest: Writable,
        *,
        max_bytes: int,
        total_seconds: float,
        content_types: tuple[str, ...] = (),
    ) -> FetchResult:
        """Stream `url` into `dest`. Raises FetchError, leaving `dest` partly written."""
        started = time.monotonic()
        client = self._client or _fetch_client()
        current = url
        for redirects in range(MAX_REDIRECTS + 1):
            remaining = total_seconds - (time.monotonic() - started)
            if remaining <= 0:
                raise FetchError("timeout", "Fetching took too long.")
            response = self._send(
                client,
                "GET",
                current,
                headers={"Accept": ", ".join(content_types) or "*/*"},
                seconds=remaining,
                read_seconds=30.0,
            )
            try:
                if response.status_code in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError("redirect", "A redirect without a target.")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise FetchError("status", f"The server answered HTTP {response.status_code}.")
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                content_type = content_type.lower()
                if content_types and not any(
                    content_type == allowed
                    or (allowed.endswith("/") and content_type.startswith(allowed))
                    for allowed in content_types
                ):
                    raise FetchError(
                        "content_type", f"The server sent {content_type or 'no content type'}."
                    )
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError("too_large", _too_large(max_bytes))
                size = 0
                for chunk in response.iter_bytes(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError("too_large", _too_large(max_bytes))
                    if time.monotonic() - started > total_seconds:
                        raise FetchError("timeout", "Fetching took too long.")
                    dest.write(chunk)
                return FetchResult(
                    url=current, content_type=content_type, size=size, redirects=redirects
                )
            except httpx.TimeoutException:
                raise FetchError("timeout", "The server stopped sending.") from None
            except httpx.HTTPError as error:
                raise FetchError(
                    "connect", f"The download broke off ({type(error).__name__})."
                ) from None
            finally:
                response.close()
        raise FetchError("redirect", f"More than {MAX_REDIRECTS} redirects.")


def _too_large(max_bytes: int) -> str:
    return f"The file is larger than {max_bytes // (1024 * 1024)} MB."


_client: httpx.Client | None = None


def _fetch_client() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
    return _client
