#!/usr/bin/env python3
"""Two p9fs clients (9P2000.L) on one file, for pebble9p's Blue writes: while one writes a new
version (several Twrites sent, the file not yet closed), the other reads the old version, whole;
once the writer closes, the other reads the new one.

    VENV/bin/python p9fs_blue_isolation.py --port P --aname A [--msize 65536]

Meant for pebble9p with --blue on in front of diod. Exit 0 and one JSON line on stdout when every
check passed; otherwise exit 1 with the failing step and reason on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ inside the Swift test target's folder

import scenario_common as common  # noqa: E402
from scenario_common import sha256  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(p)
    p.add_argument("--aname", required=True, help="aname for Tattach (diod: the exported path)")
    p.add_argument("--msize", type=int, default=65536, help="msize proposed in Tversion")
    return p.parse_args(argv)


def body(sc: common.Scenario) -> None:
    import p9fs_support as sup  # imports p9fs: keep --help working without it

    a = sc.args
    name = sc.unique_name("blue-isolation") + ".bin"
    with sc.step("connect two clients"):
        writer = sup.connect(a.host, a.port, uname=a.uname, aname=a.aname, version="9P2000.L", msize=a.msize)
        reader = sup.connect(a.host, a.port, uname=a.uname, aname=a.aname, version="9P2000.L", msize=a.msize)
        chunk = writer.client.msize - 24
    old = sc.random_bytes(common.safe_len(300_001, chunk))
    new = sc.random_bytes(common.safe_len(3 * 1024 * 1024 + 777, chunk))

    with sc.step("first version, written and closed"):
        sup.write_file(writer, name, old)
        sc.check_eq(sup.read_file(reader, name), old, "the other client's read of the first version")

    with sc.step("second version being written: the writer reads it, the other client still reads the first"):
        # Low-level p9fs calls: Tlopen O_RDWR|O_TRUNC on one fid, Twrites of msize-24 bytes, and
        # the Tclunk only at the end. (p9fs's buffered "wb" file first creates and closes the file
        # with O_TRUNC, which commits an empty file.)
        f = writer._open_fid(name, os.O_RDWR | os.O_TRUNC)
        for off in range(0, len(new), chunk):
            writer.client._write(f.fid, off, new[off:off + chunk])
        own = bytearray()
        while len(own) < len(new) + 1:
            part = writer.client._read(f.fid, len(own), chunk).data
            if not part:
                break
            own += part
        sc.check(bytes(own) == new, f"the writer's own fid read {len(own)} bytes, not what it wrote ({len(new)})")
        got = sup.read_file(reader, name)
        sc.check(got == old, f"while the writer is still open the other client read {len(got)} bytes "
                             f"(sha256 {sha256(got)}), not the first version ({len(old)} bytes)")
        sc.check_eq(reader.info(name)["size"], len(old), "the other client's size while the writer is open")
        writer.client._clunk(f.fid)
        writer.fids.release(f)

    with sc.step("closed: the other client reads the second version"):
        got = sup.read_file(reader, name)
        sc.check(got == new, f"after close the other client read {len(got)} bytes, not the second version ({len(new)})")
        writer.rm(name)
    sc.details.update(old_bytes=len(old), new_bytes=len(new))


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return common.run("p9fs-blue-isolation", args, body)


if __name__ == "__main__":
    sys.exit(main())
