#!/usr/bin/env python3
"""p9fs scenario sized for aio9p's in-memory example servers (9P2000 / 9P2000.u).

    VENV/bin/python aio9p_scenario.py --host 127.0.0.1 --port P --version {9P2000,9P2000.u}

Create a directory tree, create files, write, read back bit-exact, list, remove,
and check that everything is gone. Sized for aio9p's limits (INTEROP.md): small
files (writes are O(n^2)), everything inside one connection (each connection
gets a fresh empty tree), no rename (a wstat rename there cannot be walked
afterwards), no truncating re-create (aio9p refuses Tcreate of an existing name
and ignores OTRUNC).

Exit 0 and one JSON line on stdout when every check passed; otherwise exit 1 with
the failing step and reason on stderr.
"""

from __future__ import annotations

import argparse
import sys

sys.dont_write_bytecode = True  # no __pycache__ inside the Swift test target's folder

import scenario_common as common  # noqa: E402
from scenario_common import sha256  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(p)
    p.add_argument("--aname", default="", help="aname for Tattach (aio9p ignores it)")
    p.add_argument("--version", required=True, choices=["9P2000", "9P2000.u"])
    p.add_argument("--msize", type=int, default=65536, help="msize proposed in Tversion")
    p.add_argument("--big-kib", type=int, default=2048,
                   help="size of the largest random file in KiB (default 2048; aio9p writes "
                        "are O(n^2), keep it to a few MiB)")
    return p.parse_args(argv)


def body(sc: common.Scenario) -> None:
    import p9fs_support as sup

    a = sc.args
    fs, top, chunk = sup.connect_step(sc, "aio9p-")

    with sc.step("root is an empty directory"):
        sc.check(fs.isdir(""), "attach root is not reported as a directory")
        sc.check_eq(sup.list_names(fs, ""), [], "listing of a fresh aio9p root")

    with sc.step("mkdir"):
        fs.mkdir(top, create_parents=False)
        sc.check(fs.isdir(top), f"{top!r} is not a directory after mkdir")
        fs.mkdir(f"{top}/sub", create_parents=False)
        sc.check(fs.isdir(f"{top}/sub"), f"{top}/sub is not a directory after mkdir")
        sc.check_eq(sup.list_names(fs, ""), [f"{top}/"], "root listing after mkdir")

    big_len = common.safe_len((a.big_kib << 10) + 4321, chunk)
    files = {
        "empty": b"",
        "hello.txt": b"hello from aio9p_scenario\n",
        "two-chunks.bin": sc.random_bytes(chunk + 2),
        "random.bin": sc.random_bytes(common.safe_len(100_003, chunk)),
        "sub/nested.txt": b"nested line\n" * 100,
        "big.bin": sc.random_bytes(big_len),
    }

    with sc.step("create+write"):
        for name, data in files.items():
            sup.write_file(fs, f"{top}/{name}", data)

    with sc.step("stat sizes"):
        for name, data in files.items():
            info = fs.info(f"{top}/{name}")
            sc.check_eq(info["type"], "file", f"type of {name}")
            sc.check_eq(info["size"], len(data), f"size of {name}")

    with sc.step("read back bit-exact"):
        for name, data in files.items():
            got = sup.read_file(fs, f"{top}/{name}")
            sc.check(len(got) == len(data), f"{name}: read {len(got)} bytes, wrote {len(data)}")
            sc.check(sha256(got) == sha256(data),
                     f"{name}: sha256 {sha256(got)} != written {sha256(data)}")
        big = files["big.bin"]
        off = sc.rng.randrange(len(big) - 1000)
        sc.check_eq(sup.read_range(fs, f"{top}/big.bin", off, 1000), big[off:off + 1000],
                    f"big.bin[{off}:{off + 1000}]")
        sc.details["big_bytes"] = len(big)
        sc.details["big_sha256"] = sha256(big)

    with sc.step("list"):
        want_top = sorted([n for n in files if "/" not in n] + ["sub/"])
        sc.check_eq(sup.list_names(fs, top), want_top, f"listing of {top}")
        sc.check_eq(sup.list_names(fs, f"{top}/sub"), ["nested.txt"], f"listing of {top}/sub")
        sc.details["listed"] = want_top

    with sc.step("remove files"):
        for name in list(files):
            path = f"{top}/{name}"
            fs.rm_file(path)
            sc.check(not sup.walk_exists(fs, path), f"{path} still walkable after remove")
            files.pop(name)
        sc.check_eq(sup.list_names(fs, top), ["sub/"], f"listing of {top} after removing files")

    with sc.step("remove directories"):
        fs.rmdir(f"{top}/sub")
        sc.check(not sup.walk_exists(fs, f"{top}/sub"), f"{top}/sub still walkable after rmdir")
        fs.rmdir(top)
        sc.check(not sup.walk_exists(fs, top), f"{top} still walkable after rmdir")
        sc.check_eq(sup.list_names(fs, ""), [], "root listing after removing everything")


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return common.run("aio9p", args, body)


if __name__ == "__main__":
    sys.exit(main())
