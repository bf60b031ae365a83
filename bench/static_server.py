#!/usr/bin/env python3
"""static_server.py DIR PORT [ACCESS_LOG] -- fallback for static_server.sh without nginx.

Binds 127.0.0.1 only. ETag = "mtime-size" in hex (as nginx makes it), Last-Modified =
mtime; answers 304 to a matching If-None-Match, or, without If-None-Match, to an exact
If-Modified-Since. Standard library only.
"""
import os
import sys
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PORT = os.path.abspath(sys.argv[1]), int(sys.argv[2])
LOG = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
TYPES = {"rss": "application/rss+xml", "xml": "application/rss+xml",
         "atom": "application/atom+xml", "rdf": "application/rdf+xml"}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _log(self, status, n):
        if LOG:
            with lock, open(LOG, "a") as f:
                f.write("%d %s %s %d\n" % (status, self.command, self.path, n))

    def do_HEAD(self):
        self.do_GET(body=False)

    def do_GET(self, body=True):
        rel = self.path.split("?", 1)[0].lstrip("/")
        p = os.path.realpath(os.path.join(ROOT, rel))
        if not p.startswith(ROOT + os.sep) or not os.path.isfile(p):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self._log(404, 0)
            return
        st = os.stat(p)
        etag = '"%x-%x"' % (int(st.st_mtime), st.st_size)
        lm = formatdate(int(st.st_mtime), usegmt=True)
        inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")] if inm is not None else []
        if etag in tags or (inm is None and ims == lm):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", lm)
            self.end_headers()
            self._log(304, 0)
            return
        with open(p, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(p.rsplit(".", 1)[-1], "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", lm)
        self.end_headers()
        if body:
            self.wfile.write(data)
        self._log(200, len(data))


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
