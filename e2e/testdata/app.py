"""A WSGI app for Gatehouse's end-to-end tests, served by real Gunicorn.

Endpoints (matched on the last path segment, so /prefix/echo is /echo):
  /echo           returns the request body as it arrived
  /headers        returns the request's CGI environment (HTTP_*, method, path) as JSON
  /bytes?n=N      returns N bytes of a fixed pattern (byte i is i % 251)
  /slow?s=S       sleeps S seconds, then answers "slept"
  /sha            reads the body in chunks, answers "LENGTH SHA256-HEX" and the framing it saw
  /stall?s=S      sends the first 1000 bytes of a 2000-byte body, then stalls S seconds
  /cut?on=NAME    on the Gunicorn whose APP_NAME is NAME: sends the first 1000 bytes of a 2000-byte
                  body, then its worker dies (a crash mid-response); elsewhere answers
                  "whole from APP_NAME"
  /sse?n=N        streams N server-sent events, 0.2 s apart
  /progress?gate=F  streams "step 0", waits (up to 20 s) until file F exists, then "step 1";
                  asks for no buffering (X-Accel-Buffering: no); with gate= on /sse likewise
  /text?n=N       returns N bytes of text (text/plain, Content-Length), lines of a fixed sentence
  /whoami         the APP_NAME this Gunicorn was started with (gunicorn --env APP_NAME=...)
  /code?c=N       answers status N with body "status N from APP_NAME"; with count=FILE, appends a line to FILE first
  /cookies        sets three cookies (three Set-Cookie fields)
  /cached?cc=CC&n=N&s=S&count=FILE&etag=E
                  a cacheable answer: appends a line to FILE (when given), sleeps S seconds, then
                  answers "response K" (K: the lines in FILE) or N bytes of the pattern, with
                  Cache-Control CC (default max-age=60); with etag=E, ETag "E", and a 304 to
                  If-None-Match "E"; with vary=F, Vary F and the request's F in the body
  anything else   "hello from the app PATH", with headers that reveal software
"""
import hashlib
import json
import os
import time
from urllib.parse import parse_qs

PATTERN = bytes(range(251))


def app(environ, start_response):
    # Dispatch on the last path segment, so that /any/prefix/echo is /echo.
    path = "/" + environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/headers":
        env = {k: v for k, v in environ.items() if isinstance(v, str)}
        body = json.dumps(env).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/bytes":
        n = int(qs.get("n", ["0"])[0])
        body = (PATTERN * (n // len(PATTERN) + 1))[:n]
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(n))])
        return [body]
    if path == "/slow":
        time.sleep(float(qs.get("s", ["1"])[0]))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"slept"]
    if path == "/sha":
        h = hashlib.sha256()
        n = 0
        inp = environ["wsgi.input"]
        while True:
            chunk = inp.read(65536)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        framing = "chunked" if environ.get("HTTP_TRANSFER_ENCODING") else "length=%s" % environ.get("CONTENT_LENGTH", "")
        body = ("%d %s %s" % (n, h.hexdigest(), framing)).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/text":
        n = int(qs.get("n", ["0"])[0])
        line = b"The quick brown fox jumps over the lazy dog 0123456789.\n"
        body = (line * (n // len(line) + 1))[:n]
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(n)),
                                  ("ETag", '"text-%d"' % n)])
        return [body]
    if path == "/whoami":
        body = os.environ.get("APP_NAME", "app").encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/code":
        code = int(qs.get("c", ["200"])[0])
        count = qs.get("count", [""])[0]
        if count:
            with open(count, "a") as f:
                f.write("%s %s\n" % (environ["REQUEST_METHOD"], os.environ.get("APP_NAME", "app")))
        body = ("status %d from %s" % (code, os.environ.get("APP_NAME", "app"))).encode()
        start_response("%d X" % code, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/cached":
        count = qs.get("count", [""])[0]
        k = 0
        if count:
            with open(count, "a") as f:
                f.write("%s\n" % environ["REQUEST_METHOD"])
            with open(count) as f:
                k = len(f.readlines())
        time.sleep(float(qs.get("s", ["0"])[0]))
        n = int(qs.get("n", ["0"])[0])
        body = (PATTERN * (n // len(PATTERN) + 1))[:n] if n else ("response %d" % k).encode()
        headers = [("Cache-Control", qs.get("cc", ["max-age=60"])[0])]
        vary = qs.get("vary", [""])[0]
        if vary:
            headers.append(("Vary", vary))
            body += (" for %s" % environ.get("HTTP_" + vary.upper().replace("-", "_"), "")).encode()
        etag = qs.get("etag", [""])[0]
        if etag:
            headers.append(("ETag", '"%s"' % etag))
            if environ.get("HTTP_IF_NONE_MATCH") == '"%s"' % etag:
                start_response("304 Not Modified", headers)
                return [b""]
        start_response("200 OK", headers + [("Content-Type", "application/octet-stream"),
                                            ("Content-Length", str(len(body)))])
        return [body]
    if path == "/cookies":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2"),
                                  ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; HttpOnly"),
                                  ("Set-Cookie", "c=3, with a comma")])
        return [b"ok"]
    if path == "/stall":
        s = float(qs.get("s", ["3"])[0])
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", "2000")])

        def stalled():
            yield b"a" * 1000
            time.sleep(s)
            yield b"b" * 1000
        return stalled()
    if path == "/cut":
        name = os.environ.get("APP_NAME", "app")
        if qs.get("on", [""])[0] != name:
            body = ("whole from %s" % name).encode()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", "2000")])

        def cut():
            yield b"a" * 1000
            os._exit(1)
        return cut()
    if path in ("/progress", "/sse"):
        gate = qs.get("gate", [""])[0]
        if path == "/sse":
            start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
            fmt = "data: event %d\n\n"
        else:
            start_response("200 OK", [("Content-Type", "text/plain"), ("X-Accel-Buffering", "no")])
            fmt = "step %d\n"

        def stream():
            yield (fmt % 0).encode()
            deadline = time.time() + 20
            while gate and not os.path.exists(gate) and time.time() < deadline:
                time.sleep(0.05)
            if not gate:
                time.sleep(0.2)
            yield (fmt % 1).encode()
        return stream()
    body = ("hello from the app %s\n" % environ.get("PATH_INFO", "")).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body))),
                              ("X-Powered-By", "PHP/8.1.2"),
                              ("X-AspNet-Version", "4.0.30319"),
                              ("X-App", "test-app")])
    return [body]
