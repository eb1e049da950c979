#!/usr/bin/env python3
"""Hostile 9P2000.L clients for the noisy-neighbours benchmark: N clients of five kinds, for a
bounded time, each reconnecting whenever its connection is closed.

    hostile.py --server 127.0.0.1:PORT --aname EXPORT --file NAME [--clients 50] [--seconds 30]
               [--source 127.0.0.2]

Kinds, in turn: fid floods (clone the root fid for ever), slowloris (a frame header a byte a
second), max-size writes (pipelined msize Twrites to one file at offset 0), request floods (64
pipelined Tgetattrs, one more per reply), never-reads (1000 pipelined msize Treads of FILE, then
connected for good, no reply ever read). Every connection binds --source first, so a gateway sees them all as one address,
not the good client's. Prints one JSON object of counts by kind when the time is up.
"""

import argparse
import asyncio
import json
import signal
import struct
import sys
import time

sys.dont_write_bytecode = True

NOFID = 0xFFFFFFFF
NOTAG = 0xFFFF
MSIZE = 1 << 20
# The most data a Tread or Twrite may carry at an msize (Linux's and diod's P9_IOHDRSZ).
IOHDRSZ = 24
KINDS = ["fidflood", "slowloris", "bigwrite", "reqflood", "neverread"]


def wstr(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<H", len(data)) + data


def frame(kind: int, tag: int, body: bytes) -> bytes:
    return struct.pack("<IBH", 7 + len(body), kind, tag) + body


def tversion() -> bytes:
    return frame(100, NOTAG, struct.pack("<I", MSIZE) + wstr("9P2000.L"))


def tattach(fid: int, aname: str) -> bytes:
    return frame(104, 1, struct.pack("<II", fid, NOFID) + wstr("bench") + wstr(aname) + struct.pack("<I", 0))


def twalk(tag: int, fid: int, newfid: int, names) -> bytes:
    body = struct.pack("<IIH", fid, newfid, len(names)) + b"".join(wstr(n) for n in names)
    return frame(110, tag, body)


def tlopen(tag: int, fid: int, flags: int) -> bytes:
    return frame(12, tag, struct.pack("<II", fid, flags))


def tlcreate(tag: int, fid: int, name: str) -> bytes:
    return frame(14, tag, struct.pack("<I", fid) + wstr(name) + struct.pack("<III", 0o2, 0o644, 0))


def tgetattr(tag: int, fid: int) -> bytes:
    return frame(24, tag, struct.pack("<IQ", fid, 0x7FF))


def tread(tag: int, fid: int, count: int) -> bytes:
    return frame(116, tag, struct.pack("<IQI", fid, 0, count))


def twrite(tag: int, fid: int, data: bytes) -> bytes:
    return frame(118, tag, struct.pack("<IQI", fid, 0, len(data)) + data)


class Counts:
    def __init__(self):
        self.by_kind = {kind: {"connections": 0, "replies": 0, "errors": 0, "closed": 0} for kind in KINDS}


async def reply(reader) -> tuple:
    """(type, tag, body) of the next frame."""
    head = await reader.readexactly(7)
    size, kind, tag = struct.unpack("<IBH", head)
    body = await reader.readexactly(size - 7)
    return kind, tag, body


async def session(args, counts: Counts, kind: str):
    host, port = args.server.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), local_addr=(args.source, 0), limit=4 << 20)
    stats = counts.by_kind[kind]
    stats["connections"] += 1
    try:
        writer.write(tversion())
        _, _, body = await reply(reader)
        msize = min(MSIZE, struct.unpack_from("<I", body)[0])
        if kind == "slowloris":
            # A frame that claims 1000 bytes and comes a byte a second.
            for byte in struct.pack("<IBH", 1000, 24, 7) + bytes(993):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)
            return
        writer.write(tattach(1, args.aname))
        if (await reply(reader))[0] == 7:
            stats["errors"] += 1
            return
        if kind == "fidflood":
            await pipeline(reader, writer, stats, 16, lambda tag, n: twalk(tag, 1, 2 + n, []))
        elif kind == "reqflood":
            await pipeline(reader, writer, stats, 64, lambda tag, n: tgetattr(tag, 1))
        elif kind == "bigwrite":
            writer.write(twalk(2, 1, 2, []))
            await reply(reader)
            writer.write(tlcreate(3, 2, f"hostile-{id(writer)}.bin"))
            if (await reply(reader))[0] == 7:
                stats["errors"] += 1
                return
            data = bytes(msize - IOHDRSZ)
            await pipeline(reader, writer, stats, 8, lambda tag, n: twrite(tag, 2, data))
        elif kind == "neverread":
            writer.write(twalk(2, 1, 2, [args.file]))
            await reply(reader)
            writer.write(tlopen(3, 2, 0))
            if (await reply(reader))[0] == 7:
                stats["errors"] += 1
                return
            for tag in range(1000):
                writer.write(tread(tag, 2, msize - IOHDRSZ))
                await writer.drain()   # blocks for good once the gateway stops reading us
            await asyncio.sleep(3600)  # and stays connected, reading nothing
    finally:
        writer.close()


async def pipeline(reader, writer, stats, window: int, make):
    """Keeps `window` requests outstanding: one more for each reply."""
    sent = 0
    for tag in range(window):
        writer.write(make(tag, sent))
        sent += 1
    while True:
        await writer.drain()
        kind, tag, _ = await reply(reader)
        stats["replies"] += 1
        if kind == 7:
            stats["errors"] += 1
        writer.write(make(tag, sent))
        sent += 1


async def client(args, counts: Counts, kind: str, deadline: float):
    while time.monotonic() < deadline:
        try:
            await session(args, counts, kind)
        except (OSError, asyncio.IncompleteReadError):
            counts.by_kind[kind]["closed"] += 1
        await asyncio.sleep(0.2)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--aname", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--source", default="127.0.0.2")
    args = parser.parse_args()
    counts = Counts()
    deadline = time.monotonic() + args.seconds
    stop = asyncio.Event()
    # SIGTERM (the benchmark stops us by pid when its measurement is done) ends the run early.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [asyncio.ensure_future(client(args, counts, KINDS[i % len(KINDS)], deadline)) for i in range(args.clients)]
    await asyncio.wait(tasks + [asyncio.ensure_future(stop.wait())], timeout=args.seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    print(json.dumps(counts.by_kind, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
