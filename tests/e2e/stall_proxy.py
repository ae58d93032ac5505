#!/usr/bin/env python3
"""A TCP proxy of the test's own in front of a real registry, to cut a pull
short at a known point. It forwards both ways; the first connection to carry
more than LIMIT bytes towards the client stops there (writes STALLED) and is
closed once CUT exists, so the test can kill the registry while a blob is half
sent. Later connections pass through. Every request line and Range header the
client sends is logged to LOG.

Usage: stall_proxy.py UPSTREAM_PORT PORT_FILE LIMIT STALLED CUT LOG
"""
import os, socket, sys, threading, time

upstream_port, port_file, limit, stalled, cut, log = sys.argv[1:7]
upstream_port, limit = int(upstream_port), int(limit)
stalled_once = threading.Lock()
log_lock = threading.Lock()


def shut(*sockets):
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def client_to_upstream(client, upstream):
    try:
        while data := client.recv(65536):
            with log_lock, open(log, "a") as f:
                for line in data.split(b"\r\n"):
                    if line.startswith((b"GET ", b"HEAD ")) or line.lower().startswith(b"range:"):
                        f.write(line.decode(errors="replace") + "\n")
            upstream.sendall(data)
    except OSError:
        pass
    shut(client, upstream)


def upstream_to_client(client, upstream):
    sent = 0
    try:
        while data := upstream.recv(65536):
            if sent + len(data) > limit and stalled_once.acquire(blocking=False):
                client.sendall(data[: max(0, limit - sent)])
                open(stalled, "w").close()
                while not os.path.exists(cut):
                    time.sleep(0.05)
                break
            client.sendall(data)
            sent += len(data)
    except OSError:
        pass
    shut(client, upstream)


def serve(client):
    try:
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        client.close()
        return
    threading.Thread(target=client_to_upstream, args=(client, upstream), daemon=True).start()
    upstream_to_client(client, upstream)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
