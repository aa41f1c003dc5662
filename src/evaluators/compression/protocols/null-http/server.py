"""optibench's null codec over protocol http: the least work a server can do and still answer both calls.

It measures what the http protocol itself costs a call (the pipe to the driver, the driver's multipart
request over the sandbox's loopback, reading the body, writing the answer): /compress answers with the
upload's length as 8 little-endian bytes, /decompress with that many zero bytes. Not a solution.
Usage: server.py --port P
"""
import http.server
import struct
import sys


def upload(body, content_type):
    """The bytes of the multipart field `file` (the driver may send others, such as the shape)."""
    boundary = b"--" + content_type.split("boundary=", 1)[1].strip('"').encode()
    for part in body.split(boundary)[1:]:
        head, separator, data = part.partition(b"\r\n\r\n")
        if separator and b'name="file"' in head:
            return data[: -2] if data.endswith(b"\r\n") else data
    raise ValueError("no multipart field named file")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def do_POST(self):
        data = upload(self.rfile.read(int(self.headers["Content-Length"])), self.headers["Content-Type"])
        if self.path == "/compress":
            answer = struct.pack("<Q", len(data))
        else:
            answer = bytes(struct.unpack("<Q", data)[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Handler).serve_forever()
