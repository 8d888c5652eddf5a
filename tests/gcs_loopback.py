"""A loopback stand-in for the GCS XML API's HEAD/GET of V4-signed URLs (tests only).

NOTE: Google Cloud Storage is outside this machine's reach, so this small server plays it: it
recomputes Google's V4 string-to-sign from each request and verifies the RSA signature with
the service account's public key (a forged or expired-looking URL gets 403), then answers
from an in-memory object table (unknown object: 404).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlparse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


def string_to_sign(method: str, url: str, host: str) -> tuple[bytes, bytes]:
    """Google's V4 string-to-sign recomputed from a request, and the signature it carries."""
    u = urlparse(url)
    pairs = [(k, v) for k, v in parse_qsl(u.query) if k != "X-Goog-Signature"]
    sig = dict(parse_qsl(u.query))["X-Goog-Signature"]
    canonical_query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}"
                               for k, v in sorted(pairs))
    canonical = "\n".join([method, u.path, canonical_query, f"host:{host}", "", "host",
                           "UNSIGNED-PAYLOAD"])
    q = dict(pairs)
    scope = q["X-Goog-Credential"].split("/", 1)[1]
    sts = "\n".join(["GOOG4-RSA-SHA256", q["X-Goog-Date"], scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    return sts.encode(), bytes.fromhex(sig)


@contextmanager
def gcs_server(public_key: Any, objects: dict[str, bytes]) -> Iterator[tuple[str, list]]:
    """Serve `objects` ("bucket/name" → bytes); yields (endpoint URL, request log)."""
    seen: list[tuple[str, str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            host = self.headers["Host"]
            try:
                sts, sig = string_to_sign(method, self.path, host)
                public_key.verify(sig, sts, padding.PKCS1v15(), hashes.SHA256())
            except (KeyError, ValueError, InvalidSignature):
                seen.append((method, self.path, 403))
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = objects.get(unquote(urlparse(self.path).path.lstrip("/")))
            status = 404 if body is None else 200
            seen.append((method, self.path, status))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            if method == "GET" and body:
                self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer("HEAD")

        def do_GET(self) -> None:  # noqa: N802
            self._answer("GET")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
