"""A small HTTP proxy in front of the S3 server that injects faults into chosen requests.

boto3 talks to the proxy exactly as it would to S3; the proxy forwards to the moto server and, when a rule
matches, answers with a 503 SlowDown, a 500, a 403 AccessDenied, a 409 ConditionalRequestConflict, resets the
connection, cuts the response body off half way (which botocore does not retry by itself), or forwards the
request and then resets the connection instead of answering ("lost": the request took effect, its answer never
arrived).

It can also delay every request by a fixed time before forwarding it (``delay``, seconds), the round trip a real
S3 endpoint costs, and it counts the requests it receives by kind (``LIST``, ``GET``, ``PUT``, ...). Each client
connection is served on a thread of its own, so a delay holds up only its own request: many requests wait at
once, as they would on a real network.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_ERRORS = {
    "503": (503, "Service Unavailable", "SlowDown", "Please reduce your request rate."),
    "500": (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    "denied": (403, "Forbidden", "AccessDenied", "Access Denied"),
    "conflict": (
        409,
        "Conflict",
        "ConditionalRequestConflict",
        "A conflicting operation occurred. If using PutObject you can retry the request.",
    ),
}


@dataclass
class Rule:
    method: str
    path_contains: str
    fault: str  # 503 | 500 | denied | conflict | reset | cut | lost
    times: int  # how many matching requests get the fault; -1 for all
    hits: int = 0


def request_kind(method: str, path: str) -> str:
    """``LIST`` for a bucket listing (a GET of the bucket itself, with ``list-type`` or no key), else the
    method: ``GET`` is an object read."""
    bucket_path, _, query = path.partition("?")
    if method == "GET" and ("list-type=" in query or bucket_path.strip("/").count("/") == 0):
        return "LIST"
    return method


@dataclass
class FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Seconds every request waits before it is answered or forwarded.
    delay: float = 0.0
    #: Requests received, by :func:`request_kind`.
    counts: Counter[str] = field(default_factory=Counter)
    #: Requests being served at this moment, and the most seen at once.
    active: int = 0
    peak_active: int = 0

    def begin(self, method: str, path: str) -> None:
        with self.lock:
            self.counts[request_kind(method, path)] += 1
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)

    def end(self) -> None:
        with self.lock:
            self.active -= 1

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.peak_active = self.active

    def add(self, method: str, path_contains: str, fault: str, times: int = 1) -> Rule:
        rule = Rule(method, path_contains, fault, times)
        with self.lock:
            self.rules.append(rule)
        return rule

    def match(self, method: str, path: str) -> str | None:
        with self.lock:
            for rule in self.rules:
                if rule.method == method and rule.path_contains in path and rule.times != 0:
                    rule.times -= 1 if rule.times > 0 else 0
                    rule.hits += 1
                    return rule.fault
        return None


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        reader = sock.makefile("rb")
        proxy = self.server.proxy
        while True:
            request_line = reader.readline()
            if not request_line:
                return
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            headers: list[tuple[str, str]] = []
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers.append((name.strip(), value.strip()))
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = reader.read(length) if length else b""
            proxy.begin(method, path)
            try:
                if proxy.delay:
                    time.sleep(proxy.delay)  # this connection's thread only: other requests go on meanwhile
                if not self._answer(sock, method, path, headers, body):
                    return
            finally:
                proxy.end()

    def _answer(
        self, sock: socket.socket, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> bool:
        """Answer one request, with its fault if a rule matches; False once the connection is closed."""
        fault = self.server.proxy.match(method, path)
        if fault == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return False
        if fault in _ERRORS:
            status, reason, code, message = _ERRORS[fault]
            xml = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>"
            ).encode()
            sock.sendall(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
                f"Content-Length: {len(xml)}\r\n\r\n".encode()
                + xml
            )
            return True
        up = urlsplit(self.server.proxy.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        conn.request(method, path, body=body, headers=dict(headers))
        resp = conn.getresponse()
        payload = resp.read()
        out = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n"]
        # A HEAD's answer has no body but says the object's length: passed on as it is.
        dropped = (
            ("transfer-encoding", "connection")
            if method == "HEAD"
            else ("transfer-encoding", "connection", "content-length")
        )
        for name, value in resp.getheaders():
            if name.lower() not in dropped:
                out.append(f"{name}: {value}\r\n")
        out.append("\r\n" if method == "HEAD" else f"Content-Length: {len(payload)}\r\n\r\n")
        conn.close()
        if fault == "lost":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return False
        if fault == "cut" and len(payload) > 1:
            sock.sendall("".join(out).encode("latin-1") + payload[: len(payload) // 2])
            sock.close()
            return False
        sock.sendall("".join(out).encode("latin-1") + payload)
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = (
        128  # the default 5 drops connections opened at once, which then wait a second or more
    )
    proxy: FaultProxy


def start(upstream: str, delay: float = 0.0) -> tuple[FaultProxy, str, _Server]:
    """A proxy in front of ``upstream`` on a free loopback port, delaying every request by ``delay`` seconds:
    its state, its URL, its server (``shutdown()`` it when done)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.proxy = FaultProxy(upstream, delay=delay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server.proxy, f"http://{host}:{port}", server
