"""A small server on loopback for tests that fetch URLs (references given to the API) or
receive what the studio sends (webhooks: each POST is kept in `posts`)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from dataclasses import dataclass, field

import pytest


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class FileServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        self.posts: list[Received] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                route = server.routes.get(
                    self.path, Route(body=b"not found", status=404, content_type="text/plain")
                )
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                # The client may stop reading (e.g. past its size cap).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server.posts.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                route = server.routes.get(self.path, Route(body=b"ok", content_type="text/plain"))
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def add(
        self, path: str, body: bytes, content_type: str = "application/octet-stream", **kwargs
    ) -> str:
        self.routes[path] = Route(body=body, content_type=content_type, **kwargs)
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.close()
