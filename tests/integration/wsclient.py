"""Minimal WebSocket and HTTP client for the integration tests.

Python 3 standard library only: the handshake, masking and framing of
RFC 6455 are written out here so that the tests need nothing from PyPI.
"""
import base64
import hashlib
import json
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    def __init__(self, status, head):
        super().__init__("handshake refused: %s" % status)
        self.status = status
        self.head = head


class Closed(Exception):
    def __init__(self, code=None):
        super().__init__("connection closed (code %s)" % code)
        self.code = code


def http_get(port, path, headers=None, timeout=5):
    """GET 'path'; returns (status, headers dict lowercased, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" % (path, port)
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        s.sendall((req + "\r\n").encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                hdrs = parse_headers(head)
                n = hdrs.get("content-length")
                if n is not None and len(body) >= int(n):
                    break
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, parse_headers(head), body


def parse_headers(head):
    out = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        out[k.strip().lower()] = v.strip()
    return out


class WS:
    """A blocking WebSocket client; recv_json() returns one parsed frame."""

    def __init__(self, port, path="/ws", origin=None, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n" % (path, port, key))
        if origin:
            req += "Origin: %s\r\n" % origin
        self.sock.sendall((req + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                self.sock.close()
                raise HandshakeError(0, self.buf)
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            self.sock.close()
            raise HandshakeError(status, head)
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if parse_headers(head).get("sec-websocket-accept") != accept:
            raise HandshakeError(status, head)

    def send_frame(self, payload, opcode=1, fin=True):
        mask = os.urandom(4)
        n = len(payload)
        b0 = (0x80 if fin else 0) | opcode
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_json(self, obj):
        self.send_frame(json.dumps(obj, ensure_ascii=False).encode())

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        payload = self._read(n)
        return b0 & 0x0F, payload

    def recv_json(self):
        while True:
            op, payload = self.recv_frame()
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code)
            if op == 9:
                self.send_frame(payload, opcode=10)
                continue
            if op == 1:
                return json.loads(payload.decode("utf-8"))

    def ask(self, text, cid=None):
        msg = {"type": "message", "text": text}
        if cid is not None:
            msg["id"] = cid
        self.send_json(msg)
        return self.recv_json()

    def close(self):
        try:
            self.send_frame(struct.pack("!H", 1000), opcode=8)
        except OSError:
            pass
        self.sock.close()
