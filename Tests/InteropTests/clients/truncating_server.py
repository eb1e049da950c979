#!/usr/bin/env python3
"""A hostile 9P2000.L server for one connection: it answers Tversion and Tattach properly, then
answers the first Tread with an Rread whose header promises the full count, sends only part of
the data, waits, and closes the connection. What a crashing or killed server looks like from the
gateway's side in the middle of a large reply, made deterministic.

With --stray, it instead sends, 0.2 s after its Rversion, the head of a large Rread for a tag
nobody used (and some of its data), then waits for the gateway to close the connection.

    truncating_server.py --port PORT [--sent BYTES] [--stray]
"""
import argparse
import signal
import socket
import struct
import sys
import time

TVERSION, RVERSION = 100, 101
TATTACH, RATTACH = 104, 105
TREAD, RREAD = 116, 117


def read_exactly(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(conn):
    header = read_exactly(conn, 7)
    if header is None:
        return None
    size, kind, tag = struct.unpack("<IBH", header)
    body = read_exactly(conn, size - 7)
    if body is None:
        return None
    return kind, tag, body


def frame(kind, tag, body):
    return struct.pack("<IBH", 7 + len(body), kind, tag) + body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sent", type=int, default=2000, help="data bytes sent before closing")
    parser.add_argument("--stray", action="store_true", help="send an Rread for an unused tag after Rversion")
    args = parser.parse_args()
    signal.alarm(300)  # never outlive a test run

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(8)
    print("listening", flush=True)
    while True:
        conn, _ = listener.accept()
        serve(conn, args.sent, args.stray)


def serve(conn, sent, stray):
    with conn:
        while True:
            message = read_frame(conn)
            if message is None:
                return
            kind, tag, body = message
            if kind == TVERSION:
                msize = struct.unpack_from("<I", body)[0]
                version = b"9P2000.L"
                conn.sendall(frame(RVERSION, tag, struct.pack("<IH", min(msize, 65536), len(version)) + version))
                if stray:
                    time.sleep(0.2)
                    count = 60000
                    conn.sendall(struct.pack("<IBHI", 11 + count, RREAD, 4321, count) + b"\x5a" * min(sent, count))
                    print("sent a stray Rread head", flush=True)
            elif kind == TATTACH:
                qid = struct.pack("<BIQ", 0x80, 0, 1)
                conn.sendall(frame(RATTACH, tag, qid))
            elif kind == TREAD:
                count = struct.unpack_from("<I", body, 12)[0]
                head = struct.pack("<IBHI", 11 + count, RREAD, tag, count)
                conn.sendall(head + b"\x5a" * min(sent, count))
                time.sleep(0.3)
                print("closing in the middle of an Rread", flush=True)
                return
            else:
                sys.stderr.write(f"unexpected message type {kind}\n")
                return


if __name__ == "__main__":
    main()
