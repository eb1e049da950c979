#!/usr/bin/env python3
"""Strict 9P2000 scenario with python-9p (plan9port's codec): byte-exact replies only.

    VENV_STRICT/bin/python python9p_scenario.py --host 127.0.0.1 --port P --aname A [--threads 8]

Tversion "9P2000" msize 65536, Tattach, then Tcreate (dir, files), Twrite, Tread,
Tstat, Twstat rename (a "don't touch" stat sent as raw bytes), directory read,
Tremove; a 4 MiB random file checked by sha256; and N threads reading N files
through ONE connection at the same time (several tags in flight), each file
checked by sha256. Any malformed or extra-byte reply fails the run (python-9p
rejects it), so this is the byte-strict 9P2000 check.

Needs python-9p (import `py9p`) in its own venv: p9fs also installs a `py9p`.
Works against p9fs's server (`python -m py9p -a 127.0.0.1 -p P -r DIR -w`), which
negotiates msize 8192 and ignores aname. Not against diod (9P2000.L only).
"""

from __future__ import annotations

import argparse
import itertools
import struct
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ inside the Swift test target's folder

import scenario_common as common  # noqa: E402
from scenario_common import sha256  # noqa: E402

QTDIR = 0x80
DMDIR = 0x80000000
OREAD, OWRITE = 0, 1
IOHDRSZ = 24


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(p)
    p.add_argument("--aname", default="", help="aname for Tattach")
    p.add_argument("--msize", type=int, default=65536, help="msize proposed in Tversion")
    p.add_argument("--threads", type=int, default=8, help="concurrent reader threads (default 8)")
    p.add_argument("--big-mib", type=int, default=4, help="size of the sha256-checked file (MiB)")
    p.add_argument("--thread-file-kib", type=int, default=256,
                   help="size of each reader thread's file in KiB (default 256)")
    return p.parse_args(argv)


def dont_touch_stat(name: str) -> bytes:
    """A 9P2000 stat (convD2M layout, with its size[2]) that changes nothing but the name.

    Sent as raw bytes: python-9p's Dir cannot hold ~0 in every field."""
    def s(x: str) -> bytes:
        b = x.encode("utf-8")
        return struct.pack("<H", len(b)) + b
    body = struct.pack("<HIBIQIIIQ",
                       0xFFFF, 0xFFFFFFFF,                       # type, dev
                       0xFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF,     # qid
                       0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF,       # mode, atime, mtime
                       0xFFFFFFFFFFFFFFFF)                       # length
    body += s(name) + s("") + s("") + s("")                      # name uid gid muid
    return struct.pack("<H", len(body)) + body


def body(sc: common.Scenario) -> None:
    from py9p import Client, RemoteError, decode_dir

    a = sc.args
    top = sc.unique_name("python9p")
    sc.details.update(version="9P2000", aname=a.aname, top=top)
    fids = itertools.count(1)

    class CountingClient(Client):
        """Records how many requests were on the wire (sent, reply not yet read) at once."""
        max_in_flight = 0

    class Wire:
        """Socket wrapper: after each request is sent, count requests awaiting replies."""

        def __init__(self, sock):
            self.sock = sock
            self.client = None
            self.sent: set[int] = set()

        def sendall(self, data: bytes) -> None:
            self.sock.sendall(data)
            tag = int.from_bytes(data[5:7], "little")
            c = self.client
            with c._mux:
                self.sent.add(tag)
                self.sent &= c._outstanding           # drop tags whose caller already has a reply
                waiting = len(self.sent - set(c._pending))
                c.max_in_flight = max(c.max_in_flight, waiting)

        def recv(self, n: int) -> bytes:
            return self.sock.recv(n)

        def close(self) -> None:
            self.sock.close()

    import socket
    with sc.step("version"):
        sock = socket.create_connection((a.host, a.port), timeout=a.io_timeout)
        wire = Wire(sock)
        c = CountingClient(wire, msize=a.msize)
        wire.client = c
        rv = c.negotiate()
        sc.check_eq(rv.version, "9P2000", "Rversion version")
        sc.check(4096 <= rv.msize <= a.msize, f"Rversion msize {rv.msize} outside [4096, {a.msize}]")
        msize = c.msize
        sc.details["msize"] = msize

    def chunk_for(iounit: int) -> int:
        n = msize - IOHDRSZ
        return min(n, iounit) if iounit else n

    def walk(path) -> int:
        fid = next(fids)
        names = [p for p in path.split("/") if p] if isinstance(path, str) else list(path)
        qids = c.walk(0, fid, names)
        if len(qids) != len(names):
            raise common.ScenarioFailure(f"walk to {path!r} stopped after {len(qids)} names")
        return fid

    def exists(path: str) -> bool:
        fid = next(fids)
        names = [p for p in path.split("/") if p]
        try:
            qids = c.walk(0, fid, names)
        except RemoteError as exc:
            if common.looks_not_found(exc):
                return False
            raise
        if len(qids) < len(names):
            return False
        c.clunk(fid)
        return True

    def create_file(dirpath: str, name: str, data: bytes) -> None:
        fid = walk(dirpath)
        qid, iounit = c.create(fid, name, 0o644, OWRITE)
        sc.check(not (qid.type & QTDIR), f"Rcreate qid of {name} says directory")
        step = chunk_for(iounit)
        off = 0
        while off < len(data):
            n = c.write(fid, data[off:off + step], off)
            sc.check(n == len(data[off:off + step]), f"Rwrite count {n} at offset {off} of {name}")
            off += n
        c.clunk(fid)

    def read_all(path: str, step: int | None = None) -> bytes:
        fid = walk(path)
        _, iounit = c.open(fid, OREAD)
        step = step or chunk_for(iounit)
        out = bytearray()
        while True:
            got = c.read(fid, step, len(out))
            sc.check(len(got) <= step, f"Rread returned {len(got)} bytes for count {step}")
            if not got:
                break
            out += got
        c.clunk(fid)
        return bytes(out)

    def read_dir(path: str) -> list:
        fid = walk(path)
        qid, iounit = c.open(fid, OREAD)
        sc.check(bool(qid.type & QTDIR), f"Ropen qid of {path!r} is not a directory")
        raw = bytearray()
        while True:
            got = c.read(fid, chunk_for(iounit), len(raw))
            if not got:
                break
            raw += got
        c.clunk(fid)
        entries, off = [], 0
        while off < len(raw):
            sc.check(off + 2 <= len(raw), "directory data ends inside a stat size")
            size = int.from_bytes(raw[off:off + 2], "little")
            sc.check(off + 2 + size <= len(raw), "directory data ends inside a stat")
            entries.append(decode_dir(bytes(raw[off:off + 2 + size])))
            off += 2 + size
        return entries

    with sc.step("attach"):
        qid = c.attach(0, uname=a.uname, aname=a.aname)
        sc.check(bool(qid.type & QTDIR), f"Rattach qid type {qid.type:#x} is not a directory")
        sc.check(not exists(top), f"{top!r} exists before the test")

    with sc.step("mkdir"):
        fid = walk("")
        dq, _ = c.create(fid, top, DMDIR | 0o755, OREAD)
        sc.check(bool(dq.type & QTDIR), "Rcreate qid of the new directory is not QTDIR")
        c.clunk(fid)
        sc.check(exists(top), f"{top} not walkable after create")

    small = b"strict 9P2000 says hello\n"
    big = sc.random_bytes(a.big_mib << 20)
    thread_files = {f"t{i}.bin": sc.random_bytes((a.thread_file_kib << 10) + 17 * i)
                    for i in range(a.threads)}

    with sc.step("create+write"):
        create_file(top, "small.txt", small)
        create_file(top, "empty", b"")
        create_file(top, "big.bin", big)
        for name, data in thread_files.items():
            create_file(top, name, data)

    with sc.step("stat"):
        fid = walk(f"{top}/small.txt")
        st = c.stat(fid)
        c.clunk(fid)
        sc.check_eq(st.name, "small.txt", "Rstat name")
        sc.check_eq(st.length, len(small), "Rstat length of small.txt")
        sc.check(not (st.mode & DMDIR), "small.txt has DMDIR")
        sc.check(not (st.qid.type & QTDIR), "small.txt qid has QTDIR")
        fid = walk(f"{top}/big.bin")
        sc.check_eq(c.stat(fid).length, len(big), "Rstat length of big.bin")
        c.clunk(fid)
        fid = walk(top)
        dst = c.stat(fid)
        c.clunk(fid)
        sc.check_eq(dst.name, top, "Rstat name of the directory")
        sc.check(bool(dst.mode & DMDIR), "directory stat lacks DMDIR")

    with sc.step("read back"):
        sc.check_eq(read_all(f"{top}/small.txt"), small, "content of small.txt")
        sc.check_eq(read_all(f"{top}/empty"), b"", "content of empty")
        got = read_all(f"{top}/big.bin")
        sc.check(len(got) == len(big), f"big.bin: read {len(got)} bytes, wrote {len(big)}")
        sc.check(sha256(got) == sha256(big), f"big.bin sha256 {sha256(got)} != {sha256(big)}")
        sc.details["big_bytes"] = len(big)
        sc.details["big_sha256"] = sha256(big)

    with sc.step("wstat rename"):
        fid = walk(f"{top}/small.txt")
        c.wstat(fid, dont_touch_stat("renamed.txt"))
        c.clunk(fid)
        sc.check(not exists(f"{top}/small.txt"), "small.txt still walkable after wstat rename")
        sc.check(exists(f"{top}/renamed.txt"), "renamed.txt not walkable after wstat rename")
        fid = walk(f"{top}/renamed.txt")
        st = c.stat(fid)
        c.clunk(fid)
        sc.check_eq(st.name, "renamed.txt", "Rstat name after rename")
        sc.check_eq(st.length, len(small), "Rstat length after rename (don't-touch length)")
        sc.check_eq(read_all(f"{top}/renamed.txt"), small, "content after rename")

    with sc.step("readdir"):
        entries = read_dir(top)
        names = sorted(e.name for e in entries)
        want = sorted(["renamed.txt", "empty", "big.bin", *thread_files])
        sc.check_eq(names, want, f"directory listing of {top}")
        sizes = {e.name: e.length for e in entries}
        sc.check_eq(sizes["big.bin"], len(big), "directory entry length of big.bin")
        sc.details["listed"] = names

    with sc.step("threads multiplexing one connection"):
        barrier = threading.Barrier(a.threads)
        results: dict[str, str] = {}
        errors: list[str] = []
        read_count = 4096  # small reads: many requests per thread

        def reader(name: str, want: bytes) -> None:
            try:
                barrier.wait(timeout=a.io_timeout)
                got = read_all(f"{top}/{name}", step=read_count)
                results[name] = sha256(got)
                if got != want:
                    errors.append(f"{name}: read {len(got)} bytes, sha256 differs")
            except Exception as exc:  # reported below, in the main thread
                errors.append(f"{name}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=reader, args=(n, d), daemon=True)
                   for n, d in thread_files.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=a.deadline)
        sc.check(not any(t.is_alive() for t in threads), "a reader thread did not finish")
        sc.check(not errors, "; ".join(errors))
        sc.check_eq(len(results), a.threads, "threads that finished")
        sc.details["threads"] = a.threads
        sc.details["max_tags_in_flight"] = c.max_in_flight
        if a.threads > 1:
            sc.check(c.max_in_flight >= 2,
                     f"never more than {c.max_in_flight} request in flight with {a.threads} threads")

    with sc.step("remove"):
        for name in ["renamed.txt", "empty", "big.bin", *thread_files]:
            fid = walk(f"{top}/{name}")
            c.remove(fid)  # Tremove clunks the fid whatever the outcome
            sc.check(not exists(f"{top}/{name}"), f"{name} still walkable after remove")
        sc.check_eq(read_dir(top), [], f"listing of {top} after removing its files")
        fid = walk(top)
        c.remove(fid)
        sc.check(not exists(top), f"{top} still walkable after remove")
        sc.check(top not in [e.name for e in read_dir("")], f"root listing still has {top}")

    with sc.step("clunk root"):
        c.clunk(0)
        c.close()


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return common.run("python9p", args, body)


if __name__ == "__main__":
    sys.exit(main())
