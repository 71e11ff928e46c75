"""examples/python-server: a tiny HTTP server on python3-minimal.

python3-minimal has no http.server or socketserver, but it has socket: enough to answer GET requests. It listens
on $PORT (default 8080) and answers every request with one line naming itself; `pith run` gives it no network but
loopback, so reach it with `pith debug NAME --exec -- curl -s http://127.0.0.1:8080/` or run it with `--network host`.
"""
import os
import signal
import socket
import sys

# As PID 1 of its pid namespace it gets no default signal handling: stop on SIGTERM explicitly.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

port = int(os.environ.get("PORT", "8080"))
with socket.create_server(("0.0.0.0", port), reuse_port=False) as server:
    print(f"listening on {port} as uid {os.getuid()}", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            body = b"hello from pith\n"
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
