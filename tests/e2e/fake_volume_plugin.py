#!/usr/bin/env python3
"""A Docker volume plugin that misbehaves, on a unix socket, for strata's client tests.

usage: fake_volume_plugin.py SOCKET MODE
  notvolume  Plugin.Activate says it implements NetworkDriver only
  garbage    VolumeDriver.Create answers bytes that are not JSON
  relative   VolumeDriver.Mount answers a relative Mountpoint ("../../etc")
  refuses    VolumeDriver.Create answers {"Err": "quota exceeded"}
Everything else is answered as a well-behaved plugin would.
"""
import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

SOCKET, MODE = sys.argv[1], sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def address_string(self):
        return "plugin-client"

    def reply(self, body, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = self.path.lstrip("/")
        if path == "Plugin.Activate":
            return self.reply({"Implements": ["NetworkDriver"] if MODE == "notvolume" else ["VolumeDriver"]})
        if path == "VolumeDriver.Create" and MODE == "garbage":
            return self.reply(None, raw=b"<html>oops</html>")
        if path == "VolumeDriver.Create" and MODE == "refuses":
            return self.reply({"Err": "quota exceeded"})
        if path == "VolumeDriver.Mount" and MODE == "relative":
            return self.reply({"Mountpoint": "../../etc", "Err": ""})
        if path == "VolumeDriver.Capabilities":
            return self.reply({"Capabilities": {"Scope": "local"}})
        if path == "VolumeDriver.List":
            return self.reply({"Volumes": [], "Err": ""})
        return self.reply({"Err": ""})


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(SOCKET):
    os.unlink(SOCKET)
Server(SOCKET, Handler).serve_forever()
