#!/usr/bin/env python3
"""Demo origin for `make run`: a tiny HTTP/1.1 server on 127.0.0.1:PORT that
answers every request with one line naming itself (keep-alive capable)."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"hello from origin {self.server.origin_name} (port {self.server.server_port})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    name, port = sys.argv[1], int(sys.argv[2])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.origin_name = name
    srv.serve_forever()


if __name__ == "__main__":
    main()
