"""``footfall serve``: the API under uvicorn, on a socket bound before anything else starts.

Binding first makes an address in use (or a host name that does not resolve) a clear error
before the database is touched or any thread started, and the address is known when it is
printed. One process serves on that very socket. With ``workers`` > 1 the address is checked the
same way, then uvicorn's supervisor binds it again and its worker processes listen once they
have started (its API to hand it a socket is internal): two such servers started within the
same second or two on one port can both pass the check.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from typing import Any

import uvicorn

from footfall.exceptions import AddressUnavailable
from footfall.web.protocol import DeadlineProtocol

__all__ = ["listen", "run", "url"]

BACKLOG = 2048
KEEP_ALIVE_SECONDS = 15


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); AddressUnavailable naming the address otherwise."""
    where = f"cannot listen on {host}:{port}"
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise AddressUnavailable(f"{where}: {exc.strerror or exc}") from None
    try:
        return socket.create_server(address, family=family, backlog=BACKLOG)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason += " (another process listens there: stop it or choose another --port)"
        raise AddressUnavailable(f"{where}: {reason}") from None


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(sock: socket.socket, workers: int, background: bool, max_connections: int) -> bool:
    """Serve until SIGINT or SIGTERM; False if the application did not start. Beyond
    ``max_connections`` open connections (per process) uvicorn answers 503 at once."""
    host, port = sock.getsockname()[:2]
    app = "footfall.bootstrap:create_app" if background else "footfall.bootstrap:create_api_app"
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "access_log": False,
        "log_level": "warning",
        "loop": "uvloop",
        "http": DeadlineProtocol,
        "limit_concurrency": max_connections,
        # Longer than the idle expiry of common client pools (httpx: 5 s): with equal timers a
        # client reuses a connection just as the server closes it, and its request is lost.
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "backlog": BACKLOG,
    }
    if workers > 1:
        sock.close()
        uvicorn.run(app, **options)  # binds again and supervises the worker processes
        return True
    server = uvicorn.Server(uvicorn.Config(app, **options))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises SIGINT again once stopped
        server.run(sockets=[sock])
    return server.started
