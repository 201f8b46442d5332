"""The mlflow client's own cost per call: times `log_metric` against a null server that
answers every request at once with `{}` (TCP_NODELAY, one write per answer). No server can
make a sequential call through the client faster than this.

Usage: ~/.cache/plinth/bench-venv/bin/python bench/mlflow/client_floor.py
"""

import http.server
import socket
import threading
import time

from mlflow.tracking import MlflowClient


class Null(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Null)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = MlflowClient(tracking_uri=f"http://127.0.0.1:{server.server_address[1]}")
    latencies = []
    for step in range(2000):
        start = time.perf_counter()
        client.log_metric("0" * 32, "loss", 0.5, step=step)
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    print(f"log_metric against a null server: p50 {latencies[1000]:.2f} ms, p99 {latencies[1980]:.2f} ms")


if __name__ == "__main__":
    main()
