#!/usr/bin/env python3
"""A small registry of the test's own (distribution API v2, read side) that
serves one OCI image layout, behind bearer-token authentication, and
misbehaves on purpose by repository name:

  good/img          as a registry should (after the token flow)
  badblob/img       a layer blob whose bytes do not match its digest
  hugemanifest/img  a 5 MiB manifest
  shortbody/img     a layer blob whose Content-Length promises more than is sent
  resume/img        the first GET of a layer sends half of it and drops the
                    connection; a later GET honours Range (logged to RANGE_LOG)
  baddiff/img       a config whose last DiffID is not the layer's (the blobs are right)
  busy/img          429 Too Many Requests to the first manifest request
  broken/img        500 to every request
  forbidden/img     403 to every request
  multi/img         TAG is an OCI index: linux/arm64/v8 names the layout's
                    "base" manifest (whose config says amd64), linux/amd64 TAG's
  wrongdigest/img   TAG's manifest whatever digest is asked for
  redirect/img      blobs answered with a 307 to blob storage on another host
                    name (localhost), which refuses requests that carry the
                    registry's credentials, as S3 does (each blob served
                    is logged to RANGE_LOG as "storage DIGEST")

Usage: fake_registry.py LAYOUT_DIR TAG PORT_FILE RANGE_LOG
"""
import hashlib, http.server, json, os, socketserver, sys

layout, tag, port_file, range_log = sys.argv[1:5]
index = json.load(open(os.path.join(layout, "index.json")))
manifest_desc = next(m for m in index["manifests"]
                     if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
def blob(digest):
    return open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1]), "rb").read()
manifest_bytes = blob(manifest_desc["digest"])
manifest = json.loads(manifest_bytes)
layer_digests = {l["digest"] for l in manifest["layers"]}
# baddiff: the config names a wrong DiffID for the top layer; the manifest names that config.
bad_config = json.loads(blob(manifest["config"]["digest"]))
bad_config["rootfs"]["diff_ids"][-1] = "sha256:" + "0" * 64
bad_config_bytes = json.dumps(bad_config).encode()
bad_config_digest = "sha256:" + hashlib.sha256(bad_config_bytes).hexdigest()
bad_manifest_bytes = json.dumps(dict(manifest, config=dict(manifest["config"], digest=bad_config_digest,
                                                           size=len(bad_config_bytes)))).encode()
# multi: an index over the layout's two manifests.
base_desc = next(m for m in index["manifests"]
                 if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "base")
def platform_desc(desc, platform):
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": desc["digest"],
            "size": desc["size"], "platform": platform}
multi_bytes = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                          "manifests": [platform_desc(base_desc, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
                                        platform_desc(manifest_desc, {"os": "linux", "architecture": "amd64"})]}).encode()
TOKEN = "t0ken"
first_get = {}
busy_once = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        host = self.headers.get("Host")
        if self.path.startswith("/storage/"):  # blob storage: signed URLs, no registry credentials
            if self.headers.get("Authorization"):
                return self.send(400, b"<Error><Code>InvalidArgument</Code>"
                                      b"<Message>Only one auth mechanism allowed</Message></Error>")
            digest = self.path[len("/storage/"):].split("?")[0]
            with open(range_log, "a") as log:
                log.write("storage " + digest + "\n")
            return self.send(200, blob(digest))
        if self.path.startswith("/token"):
            return self.send(200, json.dumps({"token": TOKEN}).encode(), [("Content-Type", "application/json")])
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            challenge = f'Bearer realm="http://{host}/token",service="fake"'
            return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token please"}]}',
                             [("WWW-Authenticate", challenge), ("Content-Type", "application/json")])
        if self.path == "/v2/":
            return self.send(200, b"{}")
        parts = self.path.split("/")  # '', v2, repo, img, kind, ref
        if len(parts) != 6:
            return self.send(404)
        repo, kind, ref = parts[2], parts[4], parts[5]
        if repo == "broken":
            return self.send(500, b'{"errors":[{"code":"UNKNOWN","message":"it broke"}]}')
        if repo == "forbidden":
            return self.send(403, b'{"errors":[{"code":"DENIED","message":"not for you"}]}')
        if repo == "busy" and not busy_once.get(kind):
            busy_once[kind] = True
            return self.send(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}')
        if kind == "manifests" and repo == "multi":
            body = {tag: multi_bytes, manifest_desc["digest"]: manifest_bytes,
                    base_desc["digest"]: blob(base_desc["digest"])}.get(ref)
            if body is None:
                return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            media = "application/vnd.oci.image.index.v1+json" if ref == tag else "application/vnd.oci.image.manifest.v1+json"
            return self.send(200, body, [("Content-Type", media)])
        if kind == "manifests" and repo == "wrongdigest":
            return self.send(200, manifest_bytes, [("Content-Type", "application/vnd.oci.image.manifest.v1+json")])
        if kind == "manifests":
            if ref not in (tag, manifest_desc["digest"]):
                return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            body = bad_manifest_bytes if repo == "baddiff" else manifest_bytes
            if repo == "hugemanifest":
                body = json.dumps(dict(manifest, padding="x" * (5 << 20))).encode()
            return self.send(200, body, [("Content-Type", manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json")),
                                         ("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())])
        if kind != "blobs":
            return self.send(404)
        if repo == "redirect":
            port = self.server.server_address[1]
            return self.send(307, b"", [("Location", f"http://localhost:{port}/storage/{ref}?X-Amz-Signature=abc")])
        data = bad_config_bytes if ref == bad_config_digest else blob(ref)
        if ref in layer_digests and repo == "badblob":
            data = data[:-1] + bytes([data[-1] ^ 1])
        if ref in layer_digests and repo == "shortbody":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        if ref in layer_digests and repo == "resume":
            rng = self.headers.get("Range")
            with open(range_log, "a") as log:
                log.write((rng or "none") + "\n")
            if not first_get.get(ref):
                first_get[ref] = True
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if rng:
                start = int(rng.split("=")[1].split("-")[0])
                return self.send(206, data[start:], [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")])
        return self.send(200, data)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-answer (strata does, on a bad blob) is no news


server = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
