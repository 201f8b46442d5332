"""The replay server behind the benchmark's "floor" column: a caching reverse proxy in front
of a running Plinth that, once it has recorded Plinth's answers, sends them back at once.
The mlflow-client workload run through it in replay mode measures the client's own cost
with a server that answers instantly with the same bytes Plinth answered. No server can
make a call through this client faster than that, so MLflow ÷ floor is the highest ratio
any server could show for a figure.

Usage: replay.py --upstream http://127.0.0.1:PORT [--port PORT]
  (run with the bench venv's python; bench/mlflow-vs-plinth.sh drives it)

Two passes, one process. It starts in record mode.
- **Record.** Every request goes to the upstream, and the answer is stored under the
  request's key; a later answer under the same key replaces it, so the last one wins.
  bench/mlflow-vs-plinth.sh runs the workload once through the proxy in this mode, after the
  Plinth pass. The Plinth figures come from that earlier direct pass, so the proxy never
  distorts them. Every write reaches Plinth, so the seeded search experiment really holds
  its 10,000 distinct runs, and the recorded search answers are the real 100-result answers.
- **Replay.** `POST /__replay_mode` with the body `replay` switches modes and resets the
  counters. The workload then runs again. A request whose key was recorded gets the stored
  status, content type and body in one write, and the upstream is never contacted. A miss
  is still forwarded, recorded and answered, so the workload always completes, but it is
  counted. A miss costs Plinth's time, so the floor is sound only when misses are 0 or a
  handful.

Key:
- **Writes** (POST to .../runs/create, .../runs/log-metric, .../experiments/create, ...):
  method and path only. The body differs on every call, but the answer's shape does not.
  Every `create_run` in the replay pass gets the same run id; the floor does not care.
- **Everything else:** method, path, query and body.
"Last answer wins" keeps the replay consistent:
- The last `experiments/create` recorded is the search experiment's. In replay, both
  `create_experiment` calls get its id, so the search bodies match the recorded ones.
- The last `runs/create` recorded is the history run's, so the get-history query matches
  the recorded one as well.

`GET /__replay_stats` answers {"mode", "requests", "hits", "misses"} for the current mode;
in record mode every request is a miss. The counters also go to stderr when the process
gets SIGTERM or SIGINT.

The floor includes this server's own work per request (Python's HTTP parsing, ~0.1 ms) and
a loopback round trip. Any real server has those too, so they belong in a floor.
"""

import argparse
import http.client
import http.server
import json
import signal
import socket
import sys
import threading
import urllib.parse

WRITE_SUFFIXES = (
    "/experiments/create",
    "/experiments/update",
    "/experiments/delete",
    "/experiments/restore",
    "/experiments/set-experiment-tag",
    "/runs/create",
    "/runs/update",
    "/runs/delete",
    "/runs/restore",
    "/runs/log-metric",
    "/runs/log-parameter",
    "/runs/log-batch",
    "/runs/log-inputs",
    "/runs/log-model",
    "/runs/set-tag",
    "/runs/delete-tag",
)
# Request headers passed to the upstream; the rest are the client's own business.
FORWARDED = ("authorization", "content-type", "accept", "accept-encoding")


class State:
    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.recordings = {}  # key -> (status, reason, content type, content encoding, body)
        self.mode = "record"
        self.requests = 0
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()
        self.local = threading.local()

    def stats(self):
        with self.lock:
            return {"mode": self.mode, "requests": self.requests, "hits": self.hits, "misses": self.misses}

    def switch(self, mode):
        with self.lock:
            self.mode = mode
            self.requests = self.hits = self.misses = 0

    def forward(self, method, target, headers, body):
        """The upstream's answer, on this thread's keep-alive connection (reopened once if
        the upstream closed it)."""
        for attempt in (0, 1):
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=600)
                connection.connect()
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.local.connection = connection
            try:
                connection.request(method, target, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                self.local.connection = None
                if attempt:
                    raise
                continue
            if answer.will_close:
                connection.close()
                self.local.connection = None
            return (answer.status, answer.reason, answer.getheader("content-type"), answer.getheader("content-encoding"), data)


def key_of(method, target, body):
    path = target.split("?", 1)[0]
    if method == "POST" and path.endswith(WRITE_SUFFIXES):
        return (method, path)
    return (method, target, body)


def handler(state):
    class Replay(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send(self, status, reason, content_type, content_encoding, body):
            head = f"HTTP/1.1 {status} {reason}\r\ncontent-length: {len(body)}\r\n"
            if content_type:
                head += f"content-type: {content_type}\r\n"
            if content_encoding:
                head += f"content-encoding: {content_encoding}\r\n"
            self.wfile.write(head.encode("latin-1") + b"\r\n" + body)

        def answer(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path == "/__replay_stats":
                self.send(200, "OK", "application/json", None, json.dumps(state.stats()).encode())
                return
            if self.path == "/__replay_mode":
                mode = body.decode().strip()
                if mode not in ("record", "replay"):
                    self.send(400, "Bad Request", "text/plain", None, b"mode: record or replay\n")
                    return
                state.switch(mode)
                self.send(200, "OK", "application/json", None, json.dumps(state.stats()).encode())
                return
            key = key_of(self.command, self.path, body)
            recorded = state.recordings.get(key) if state.mode == "replay" else None
            if recorded is None:
                headers = {name: self.headers[name] for name in FORWARDED if self.headers[name] is not None}
                recorded = state.forward(self.command, self.path, headers, body)
                with state.lock:
                    state.recordings[key] = recorded
                    state.requests += 1
                    state.misses += 1
            else:
                with state.lock:
                    state.requests += 1
                    state.hits += 1
            self.send(*recorded)

        do_GET = answer
        do_POST = answer
        do_PUT = answer
        do_PATCH = answer
        do_DELETE = answer

        def log_message(self, *args):
            pass

    return Replay


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the Plinth to record, http://HOST:PORT")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, 127.0.0.1 (0: any free port)")
    args = parser.parse_args()
    state = State(args.upstream)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler(state))
    server.daemon_threads = True

    def stop(signum, frame):
        print(f"replay: {json.dumps(state.stats())}", file=sys.stderr, flush=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"replay: listening on 127.0.0.1:{server.server_address[1]}, upstream {args.upstream}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
