"""A tiny HTTP server on 127.0.0.1 that serves a folder, for the demo and for the tests.

Files whose name ends in a feed or page suffix are served with a fitting Content-Type; the literal
``{{BASE}}`` in a served file is replaced with the server's base URL, so that bundled feeds can link to
the pages served beside them.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class StaticServer:
    """Serve ``root`` on 127.0.0.1 at a free port in a background thread. Use as a context manager."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root).resolve()
        server_root = self.root

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = unquote(urlsplit(self.path).path).lstrip("/")
                target = (server_root / path).resolve()
                if server_root not in target.parents or not target.is_file():
                    self.send_error(404, "not found")
                    return
                body = target.read_bytes().replace(b"{{BASE}}", self.server.base_url.encode())  # type: ignore[attr-defined]
                self.send_response(200)
                self.send_header("Content-Type", _TYPES.get(target.suffix, "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://{host}:{self.httpd.server_address[1]}"
        self.httpd.base_url = self.base_url  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="static-server", daemon=True)

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
