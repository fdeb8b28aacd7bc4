"""cargohold demo site: behaves like Drupal where storage is concerned.

Uploads are written inside the application tree, at sites/default/files (the path Drupal will not
move), served back from there, and every request is appended to an access log in LOG_DIR.
Listens on $PORT, as every cargohold instance does.
"""

import os
import queue
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

APP_ROOT = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(APP_ROOT, "sites", "default", "files")
LOG_DIR = os.environ.get("LOG_DIR", "/var/log/demo")
VERSION = os.environ.get("DEMO_VERSION", "0")
SITE = os.environ.get("CARGOHOLD_SITE", socket.gethostname())
INSTANCE = os.environ.get("CARGOHOLD_INSTANCE", "0")
MAX_UPLOAD = 64 * 1024 * 1024


def safe_name(raw):
    name = unquote(raw)
    if not name or "/" in name or name.startswith(".") or "\0" in name:
        return None
    return name


IN_FLIGHT = [0]
IN_FLIGHT_LOCK = threading.Lock()
STOPPING = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stalls)
    server_version = "cargohold-demo/" + VERSION

    def parse_request(self):
        # Counted from a request's first line on: an idle kept-alive connection is not in flight.
        with IN_FLIGHT_LOCK:
            IN_FLIGHT[0] += 1
        self.counted = True
        return super().parse_request()

    def handle_one_request(self):
        self.counted = False
        try:
            super().handle_one_request()
        finally:
            if self.counted:
                with IN_FLIGHT_LOCK:
                    IN_FLIGHT[0] -= 1
        if STOPPING.is_set():
            self.close_connection = True  # a kept-alive connection ends after its current request

    def reply(self, code, body, ctype="text/plain; charset=utf-8"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Instance", INSTANCE)
        self.send_header("X-Version", VERSION)
        if STOPPING.is_set():
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if self.path == "/healthz":
            if os.environ.get("DEMO_UNHEALTHY"):  # for tests of failed deploys
                return self.reply(500, b"unhealthy on purpose\n")
            return self.reply(200, b"ok\n")
        if self.path == "/":
            text = f"demo site {SITE} instance {INSTANCE} version {VERSION}\n"
            return self.reply(200, text.encode())
        prefix = "/sites/default/files/"
        if self.path.startswith(prefix):
            name = safe_name(self.path[len(prefix):])
            if name is None:
                return self.reply(400, b"bad name\n")
            try:
                with open(os.path.join(FILES, name), "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                return self.reply(404, b"not found\n")
            return self.reply(200, data, "application/octet-stream")
        return self.reply(404, b"not found\n")

    def do_PUT(self):
        self.do_POST()

    def do_POST(self):
        # /upload/NAME: temp file, fsync, rename into place. /upload-inplace/NAME: written at its final
        # name (what PHP's move_uploaded_file does across filesystems, file_put_contents, fs.writeFile).
        in_place = self.path.startswith("/upload-inplace/")
        prefix = "/upload-inplace/" if in_place else "/upload/"
        if not self.path.startswith(prefix):
            return self.reply(404, b"not found\n")
        name = safe_name(self.path[len(prefix):])
        length = int(self.headers.get("Content-Length") or 0)
        if name is None or length > MAX_UPLOAD:
            return self.reply(400, b"bad upload\n")
        data = self.rfile.read(length)
        final = os.path.join(FILES, name)
        tmp = final if in_place else os.path.join(FILES, f".{name}.{INSTANCE}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if not in_place:
            os.replace(tmp, final)
        return self.reply(201, f"stored {name} ({len(data)} bytes)\n".encode())

    def log_message(self, fmt, *args):
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z")
        line = f"{self.client_address[0]} - [{stamp}] {fmt % args} instance={INSTANCE}\n"
        # Also on stdout, as containers do (the engine keeps it: `cargohold logs` reads it from there).
        sys.stdout.write(line)
        sys.stdout.flush()
        try:
            LOG_LINES.put_nowait(line)
        except queue.Full:
            sys.stderr.write("access log behind: line dropped\n")


# The access log is written by a thread of its own (buffered, like nginx's `buffer=`): a storage pause
# delays the log, never a response, and the health check keeps answering.
LOG_LINES = queue.Queue(maxsize=100000)


def write_log():
    while True:
        lines = [LOG_LINES.get()]
        while not LOG_LINES.empty() and len(lines) < 1000:
            lines.append(LOG_LINES.get_nowait())
        try:
            with open(os.path.join(LOG_DIR, "access.log"), "a") as fh:
                fh.write("".join(lines))
        except OSError as exc:
            sys.stderr.write(f"cannot write access log: {exc}\n")


def main():
    port = int(os.environ.get("PORT", "8080"))
    ThreadingHTTPServer.request_queue_size = 128  # the default backlog of 5 drops SYNs under load
    server = ThreadingHTTPServer((os.environ.get("BIND_ADDRESS", "0.0.0.0"), port), Handler)
    server.daemon_threads = True
    print(f"demo site {SITE} instance {INSTANCE} version {VERSION} on port {port}", flush=True)

    def stop(_signum, _frame):
        # Graceful stop: refuse new connections (the front door sends those elsewhere), finish
        # the requests in flight, then exit; bounded well inside the stop grace period.
        STOPPING.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=write_log, daemon=True).start()
    server.serve_forever()
    server.socket.close()
    end = time.monotonic() + 5
    while time.monotonic() < end:
        with IN_FLIGHT_LOCK:
            if IN_FLIGHT[0] == 0:
                break
        time.sleep(0.02)
    os._exit(0)


if __name__ == "__main__":
    main()
