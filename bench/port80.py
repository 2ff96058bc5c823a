#!/usr/bin/env python3
"""A tiny service on 127.0.0.1:80 for bench.py's held-sockets scenario: it answers each
connection with its pid. `fcgi`: its listening socket is fd 0 (proctor's and supervisord's
[fcgi-program:x]); `bind`: it binds the port itself (proctor's capabilities =
net_bind_service). On SIGTERM it finishes the connection in hand and exits."""
import os, signal, socket, sys

if sys.argv[1] == "fcgi":
    s = socket.socket(fileno=0)
else:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 80))
    s.listen(4096)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
s.settimeout(0.05)
while not stop:
    try:
        c, _ = s.accept()
    except (socket.timeout, InterruptedError):
        continue
    c.sendall(b"%d\n" % os.getpid())
    c.close()
