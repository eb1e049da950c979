#!/usr/bin/env python3
"""A hostile 9P2000.L server: it answers Tversion and Tattach properly, then misbehaves in one of
three ways, made deterministic so a test can show what the gateway does about it:

  truncate  answers the first Tread with an Rread whose header promises the full count, sends
            only --sent bytes of the data, waits, and closes the connection (what a crashing or
            killed server looks like in the middle of a large reply);
  stray     0.2 s after its Rversion sends the head of a large Rread for a tag nobody used (and
            --sent bytes of its data), then waits for the gateway to close the connection;
  trickle   answers every Tread in full, but sends the Rread in --piece-byte writes, each its
            own TCP segment (what a server far away, or a slow one, looks like), then prints
            "sent the whole Rread" (on a unix socket every write is its own buffer already,
            so --pause 0 will do), and with --close-after N closes after the Nth; Tclunk gets
            Rclunk.
  dirstats  a 9P2000 server (it echoes the client's 9P2000 version): Tattach, a clone Twalk and
            Topen succeed, the open with a directory qid, and every Tread gets an Rread of
            --count bytes that are not stats (sizes below a stat's fixed part), written in
            --piece-byte writes like trickle.
  garbage   answers Tversion properly, then every request with a reply drawn from --seed: a
            plausible one, a wrong tag, a random type, a size below 7 or above msize, an
            Rread head with less data than it claims, two replies, none, or a closed
            connection. Connections are served at once, each on its own thread.

With --stdio it serves the one connection on its stdin/stdout (a gateway's exec: backend) and
writes its notes to stderr; --ignore-eof then makes it linger for a minute after that connection
ends instead of exiting, as a server that ignores EOF would.

    hostile_server.py (--port PORT | --unix PATH | --stdio [--ignore-eof]) [--mode truncate|stray|trickle] [--sent BYTES] [--piece BYTES]
                      [--max-msize N]
"""
import argparse
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

TVERSION, RVERSION = 100, 101
TATTACH, RATTACH = 104, 105
TREAD, RREAD = 116, 117
TCLUNK, RCLUNK = 120, 121
TWALK, RWALK = 110, 111
TOPEN, ROPEN = 112, 113


def note(text):
    """What the test reads from the server's output (stderr with --stdio: stdout is the 9P stream)."""
    print(text, flush=True)


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


def answer_version(conn, tag, body, max_msize, echo=False):
    """Rversion 9P2000.L (or, with echo, the client's version) at the client's msize capped by
    max_msize; returns that msize."""
    msize = min(struct.unpack_from("<I", body)[0], max_msize)
    version = body[6:6 + struct.unpack_from("<H", body, 4)[0]] if echo else b"9P2000.L"
    conn.sendall(frame(RVERSION, tag, struct.pack("<IH", msize, len(version)) + version))
    return msize


def main():
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT")
    where.add_argument("--unix", help="listen on a unix socket at PATH")
    where.add_argument("--stdio", action="store_true", help="serve the connection on stdin/stdout")
    parser.add_argument("--ignore-eof", action="store_true", help="with --stdio: linger after EOF")
    parser.add_argument("--mode", choices=["truncate", "stray", "trickle", "dirstats", "garbage"], default="truncate")
    parser.add_argument("--count", type=int, default=8000, help="dirstats: data bytes per Rread")
    parser.add_argument("--seed", type=int, default=1, help="garbage: the seed of the first connection")
    parser.add_argument("--sent", type=int, default=2000, help="data bytes sent before closing (truncate, stray)")
    parser.add_argument("--piece", type=int, default=1000, help="bytes per write (trickle)")
    parser.add_argument("--pause", type=float, default=0.0002,
                        help="seconds between writes (trickle), so that TCP sends each as its own segment")
    parser.add_argument("--max-msize", type=int, default=65536)
    parser.add_argument("--close-after", type=int, default=0,
                        help="trickle: close the connection after this many Rreads (0: never)")
    args = parser.parse_args()
    signal.alarm(300)  # never outlive a test run

    if args.stdio:
        global note
        note = lambda text: print(text, file=sys.stderr, flush=True)
        serve(socket.socket(fileno=0), args)
        if args.ignore_eof:
            note(f"ignoring EOF, pid {os.getpid()}")
            time.sleep(60)
        return
    if args.unix:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(args.unix)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", args.port))
    listener.listen(8)
    note("listening")
    connections = 0
    while True:
        conn, _ = listener.accept()
        if not args.unix:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if args.mode == "garbage":
            rng = random.Random(args.seed + connections)
            threading.Thread(target=serve_garbage, args=(conn, rng), daemon=True).start()
        else:
            serve(conn, args)
        connections += 1


def requests(conn, max_msize, echo_version=False):
    """Yields (kind, tag, body, msize) for each frame until EOF, answering a Tversion (at the
    client's msize capped by max_msize) before yielding it."""
    msize = 8192
    while True:
        message = read_frame(conn)
        if message is None:
            return
        kind, tag, body = message
        if kind == TVERSION:
            msize = answer_version(conn, tag, body, max_msize, echo=echo_version)
        yield kind, tag, body, msize


def send_in_pieces(conn, reply, args):
    for start in range(0, len(reply), args.piece):
        conn.sendall(reply[start:start + args.piece])
        if args.pause > 0:
            time.sleep(args.pause)


def serve_garbage(conn, rng):
    """Answers Tversion properly, then each request with one of the misbehaviours above."""
    with conn:
        try:
            for kind, tag, body, msize in requests(conn, 65536):
                if kind == TVERSION:
                    continue
                junk = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
                choice = rng.randrange(10)
                if choice == 0:
                    conn.sendall(frame(kind + 1, tag, junk))
                elif choice == 1:
                    conn.sendall(frame(kind + 1, rng.randrange(65536), junk))
                elif choice == 2:
                    conn.sendall(frame(7, tag, struct.pack("<I", rng.randrange(1, 200))))  # Rlerror
                elif choice == 3:
                    conn.sendall(frame(rng.randrange(256), tag, junk))
                elif choice == 4:
                    conn.sendall(struct.pack("<IBH", rng.randrange(7), kind + 1, tag) + junk)
                elif choice == 5:
                    conn.sendall(struct.pack("<IBH", msize + 1 + rng.randrange(1 << 20), kind + 1, tag) + junk)
                elif choice == 6:
                    count = rng.randrange(1, 60000)
                    conn.sendall(struct.pack("<IBHI", 11 + count, RREAD, tag, count) + junk[:count])
                elif choice == 7:
                    conn.sendall(frame(kind + 1, tag, junk) * 2)
                elif choice == 8:
                    pass  # no reply
                else:
                    return  # closed
        except OSError:
            return


def serve(conn, args):
    with conn:
        for kind, tag, body, _ in requests(conn, args.max_msize, echo_version=args.mode == "dirstats"):
            if kind == TVERSION:
                if args.mode == "stray":
                    time.sleep(0.2)
                    count = 60000
                    conn.sendall(struct.pack("<IBHI", 11 + count, RREAD, 4321, count) + b"\x5a" * min(args.sent, count))
                    note("sent a stray Rread head")
            elif kind == TATTACH:
                qid = struct.pack("<BIQ", 0x80, 0, 1)
                conn.sendall(frame(RATTACH, tag, qid))
            elif kind == TREAD and args.mode == "truncate":
                count = struct.unpack_from("<I", body, 12)[0]
                head = struct.pack("<IBHI", 11 + count, RREAD, tag, count)
                conn.sendall(head + b"\x5a" * min(args.sent, count))
                time.sleep(0.3)
                note("closing in the middle of an Rread")
                return
            elif kind == TREAD and args.mode == "trickle":
                count = struct.unpack_from("<I", body, 12)[0]
                reply = struct.pack("<IBHI", 11 + count, RREAD, tag, count) + bytes(i % 251 for i in range(count))
                send_in_pieces(conn, reply, args)
                note("sent the whole Rread")
                reads_sent = getattr(args, "reads_sent", 0) + 1
                args.reads_sent = reads_sent
                if args.close_after and reads_sent >= args.close_after:
                    note("closing after the last Rread")
                    return
            elif kind == TWALK and args.mode == "dirstats":
                conn.sendall(frame(RWALK, tag, struct.pack("<H", 0)))
            elif kind == TOPEN and args.mode == "dirstats":
                conn.sendall(frame(ROPEN, tag, struct.pack("<BIQI", 0x80, 0, 1, 0)))
            elif kind == TREAD and args.mode == "dirstats":
                # Each "stat" claims 4 bytes: far below the 39 of a stat's fixed fields.
                data = (struct.pack("<H", 4) + b"\0" * 4) * (args.count // 6) + b"\0" * (args.count % 6)
                send_in_pieces(conn, struct.pack("<IBHI", 11 + len(data), RREAD, tag, len(data)) + data, args)
                note("sent the whole Rread")
            elif kind == TCLUNK:
                conn.sendall(frame(RCLUNK, tag, b""))
            else:
                sys.stderr.write(f"unexpected message type {kind}\n")
                return


if __name__ == "__main__":
    main()
