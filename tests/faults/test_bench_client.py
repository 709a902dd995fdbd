"""bench_load's clients keep their connection between requests, as browsers do, and send a
request again on a new connection only when the server had closed the kept one."""

import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.choices import Role
from monitor.management.commands.bench_load import Client, _request


@pytest.fixture
def server():
    """A keep-alive HTTP/1.1 server that records (client port, path) of every request and
    drops the connection after answering /close (as a server ending an idle connection)."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.client_address[1], self.path))
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = self.path == "/close"

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def test_a_client_keeps_its_connection_and_reopens_one_the_server_closed(server):
    port, seen = server
    client = Client(role=Role.VILLAGE_CADRE, headers={}, pages=[], reads=[], rng=random.Random(1))
    for path in ("/a", "/close", "/b", "/c"):
        assert _request(port, "GET", path, {}, client=client) == (200, b"ok")
    # Each request arrived once; the first two on one connection, the rest on a new one.
    assert [path for _, path in seen] == ["/a", "/close", "/b", "/c"]
    ports = [port for port, _ in seen]
    assert ports[0] == ports[1] and ports[2] == ports[3] and ports[1] != ports[2]
    client.connection.close()
