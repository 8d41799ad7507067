"""A loopback TCP proxy that tests can cut and restore, to make a database vanish, and that
can hold what it forwards for a while, to put the database at a network's distance."""

from __future__ import annotations

import queue
import socket
import threading
import time
from contextlib import suppress

from sqlalchemy.engine import make_url

#: How long connecting to the target may take. Only the connecting: a connection through the
#: proxy may then stay idle as long as its ends keep it (a pooled database connection does).
CONNECT_SECONDS = 5.0


class TcpProxy:
    """Forward 127.0.0.1:<port> to ``target``; ``cut()`` drops every connection. Each way,
    what arrives is passed on ``delay`` seconds later (a round trip then takes twice that)."""

    def __init__(self, target_host: str, target_port: int, delay: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=CONNECT_SECONDS)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):  # pass small messages on at once, as libpq does
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        """Read from ``source`` and hand each piece on with the time it is due (an empty
        piece, due at once, is the end)."""
        due: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        threading.Thread(target=self._pass_on, args=(due, source, sink), daemon=True).start()
        with suppress(OSError):
            while data := source.recv(65536):
                due.put((time.monotonic() + self.delay, data))
        due.put((0.0, b""))

    def _pass_on(self, due: queue.SimpleQueue[tuple[float, bytes]], source: socket.socket,
                 sink: socket.socket) -> None:
        """Send each piece to ``sink`` when it is due, in order: pieces in flight overlap,
        as on a network."""
        with suppress(OSError):
            while (item := due.get())[1]:
                time.sleep(max(0.0, item[0] - time.monotonic()))
                sink.sendall(item[1])
        self._shut(source, sink)

    @staticmethod
    def _shut(*sockets: socket.socket) -> None:
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and break the open ones, like a database going down."""
        self.open.clear()
        with self.lock:
            for sock in self.sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with suppress(OSError):
                    sock.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def proxied(database_url: str, delay: float = 0.0) -> tuple[TcpProxy, str]:
    """A proxy in front of the database at ``database_url``, and the URL through it."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432, delay)
    return proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
