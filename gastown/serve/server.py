"""Run the web app under uvicorn on a socket bound here, so a taken port or a wrong address
is one line with what to do, not a traceback from inside the server."""

from __future__ import annotations

import errno
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass

from gastown.errors import UsageError
from gastown.serve.app import build
from gastown.serve.reading import Reader
from gastown.town.store import GitStore

LOOPBACK = "127.0.0.1"
GRACE_SECONDS = 2  # open event streams get this long to close on Ctrl-C


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    token: str | None

    @property
    def url(self) -> str:
        host = socket.gethostname() if self.host in ("0.0.0.0", "::") else self.host  # any address: name one
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port); UsageError saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise UsageError(f"--host {host}: {error.strerror}", "pass an address of this machine, e.g. 0.0.0.0") from None
    family, kind, proto, _, where = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(where)
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is already in use",
                f"pass another --port (--port 0 picks a free one), or stop what listens there "
                f"(ss -ltnp 'sport = :{port}')",
            ) from None
        if error.errno == errno.EACCES:
            raise UsageError(f"may not listen on port {port}", "pass a --port above 1023") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise UsageError(
                f"--host {host} is not an address of this machine", "pass one that is, e.g. 0.0.0.0"
            ) from None
        raise
    sock.set_inheritable(True)
    return sock


def serve(store: GitStore, host: str | None, port: int, announce: Callable[[Address], None]) -> None:
    """Serve the town until interrupted; ``announce`` is told the address once the socket
    listens. Only the default, loopback, is open: any ``host`` given means a token, made
    here and announced, that every request must carry."""
    import uvicorn

    token = None if host is None else secrets.token_urlsafe(24)
    sock = bind(host or LOOPBACK, port)
    reader = Reader(store)
    app = build(reader, token)
    config = uvicorn.Config(
        app,
        log_config=None,  # the CLI configures logging (gt -v); uvicorn must not replace it
        access_log=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
        lifespan="on",
    )
    announce(Address(host or LOOPBACK, sock.getsockname()[1], token))
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
