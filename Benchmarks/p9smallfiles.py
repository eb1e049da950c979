#!/usr/bin/env python3
"""Benchmarks/p9smallfiles.py — small files made one after another over 9P2000.L, as an unpacked
archive or a build makes them: for each file a Twalk (clone of the root), a Tlcreate
(O_WRONLY|O_CREAT|O_TRUNC) of a new name in DIR, one Twrite of SIZE bytes and a Tclunk, each
waiting for its reply. Prints the files made per second (the time runs from the first Twalk to
the last Rclunk) and checks that every file has its SIZE bytes when it is done.

    p9smallfiles.py HOST PORT DIR COUNT [SIZE]

DIR is the attach name (the directory exported by diod) and must be empty."""
import os
import socket
import struct
import sys
import time

TVERSION, TATTACH, TWALK, TLCREATE, TWRITE, TCLUNK = 100, 104, 110, 14, 118, 120
ERRORS = (7, 107)


def wire_string(text):
    data = text.encode()
    return struct.pack("<H", len(data)) + data


class Session:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def rpc(self, kind, tag, body):
        self.sock.sendall(struct.pack("<IBH", 7 + len(body), kind, tag) + body)
        head = self._exactly(4)
        reply = head + self._exactly(struct.unpack("<I", head)[0] - 4)
        if reply[4] in ERRORS:
            raise SystemExit("p9smallfiles: message %d answered with an error: %r" % (kind, reply))
        return reply

    def _exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise SystemExit("p9smallfiles: the server closed the connection")
            data += chunk
        return data


def main():
    if len(sys.argv) not in (5, 6):
        raise SystemExit(__doc__)
    host, port, directory, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    size = int(sys.argv[5]) if len(sys.argv) == 6 else 3000
    session = Session(host, port)
    session.rpc(TVERSION, 0xFFFF, struct.pack("<I", 65536) + wire_string("9P2000.L"))
    session.rpc(TATTACH, 1, struct.pack("<II", 1, 0xFFFFFFFF) + wire_string("") + wire_string(directory) + struct.pack("<I", 0))
    data = bytes(index % 251 for index in range(size))
    started = time.monotonic()
    for index in range(count):
        session.rpc(TWALK, 2, struct.pack("<IIH", 1, 2, 0))
        session.rpc(TLCREATE, 3, struct.pack("<I", 2) + wire_string("f%d" % index) + struct.pack("<III", 0o1101, 0o644, 0))
        session.rpc(TWRITE, 4, struct.pack("<IQI", 2, 0, size) + data)
        session.rpc(TCLUNK, 5, struct.pack("<I", 2))
    elapsed = time.monotonic() - started
    wrong = [name for name in os.listdir(directory) if os.path.getsize(os.path.join(directory, name)) != size]
    if len(os.listdir(directory)) != count or wrong:
        raise SystemExit("p9smallfiles: %d files, %d of the wrong size" % (len(os.listdir(directory)), len(wrong)))
    print("p9smallfiles: %.1f files/s" % (count / elapsed))


if __name__ == "__main__":
    main()
