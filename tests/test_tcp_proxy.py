"""The tests' TCP proxy (tests/tcp_proxy.py) forwards until cut, however long a connection
is idle: a pooled database connection behind it must not be dropped by the proxy itself."""

from __future__ import annotations

import socket
import threading
import time

from tests import tcp_proxy
from tests.tcp_proxy import TcpProxy


def echo_server() -> socket.socket:
    """A loopback server that sends back what each connection sends it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(connection: socket.socket) -> None:
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener


def test_a_connection_idle_for_longer_than_connecting_may_take_stays_open(monkeypatch):
    monkeypatch.setattr(tcp_proxy, "CONNECT_SECONDS", 0.1)
    listener = echo_server()
    proxy = TcpProxy("127.0.0.1", listener.getsockname()[1])
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=60) as client:
            client.sendall(b"before")
            assert client.recv(100) == b"before"
            time.sleep(0.5)  # idle: at least five times as long as connecting may take
            client.sendall(b"after")
            assert client.recv(100) == b"after"
    finally:
        proxy.close()
        listener.close()
