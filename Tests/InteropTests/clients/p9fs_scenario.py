#!/usr/bin/env python3
"""p9fs (fsspec 9P client) scenario: mkdir, create, write, read back, rename, list, remove.

    VENV/bin/python p9fs_scenario.py --host 127.0.0.1 --port P --aname A \
        --version {9P2000.L,9P2000.u,9P2000} [--msize 65536] [--big-mib 6]

Works against diod (9P2000.L; aname = an exported path) and p9fs's own server
(`python -m py9p -a 127.0.0.1 -p P -r DIR -w [-D]`, 9P2000 / 9P2000.u), and is meant
to run against pebble9p in front of them. Renames are real protocol renames, not
p9fs's copy+delete `mv`: 9P2000.L sends Trename through p9fs's low-level client
(a marshaller patch in p9fs_support.py); 9P2000/.u sends Twstat with a "don't
touch" stat that changes only the name.

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
    p.add_argument("--aname", default="", help="aname for Tattach (diod: the exported path)")
    p.add_argument("--version", required=True, choices=["9P2000.L", "9P2000.u", "9P2000"])
    p.add_argument("--msize", type=int, default=65536, help="msize proposed in Tversion")
    p.add_argument("--big-mib", type=int, default=6,
                   help="size of the large random file in MiB (plus an odd tail; default 6)")
    return p.parse_args(argv)


def body(sc: common.Scenario) -> None:
    import p9fs_support as sup  # imports p9fs: keep --help working without it

    a = sc.args
    fs, top, chunk = sup.connect_step(sc, "p9fs-")

    with sc.step("root is a directory"):
        sc.check(fs.isdir(""), "attach root is not reported as a directory")
        sc.check(not sup.walk_exists(fs, top), f"{top!r} already exists before the test")

    with sc.step("mkdir"):
        fs.mkdir(top, create_parents=False)
        sc.check(fs.isdir(top), f"{top!r} is not a directory after mkdir")
        fs.mkdir(f"{top}/sub", create_parents=False)
        sc.check(fs.isdir(f"{top}/sub"), f"{top}/sub is not a directory after mkdir")
        sc.check(f"{top}/" in sup.list_names(fs, ""), f"root listing lacks {top}/")

    # Sizes: empty, tiny, one exact Twrite, one Twrite + 2 (never +1: p9fs drops the last
    # byte of a chunk ≡ 1 mod msize-24), a medium random file and a multi-MiB random file
    # written in 1 MiB flushes (several Twrite runs at growing offsets).
    big_len = a.big_mib * (1 << 20) + common.safe_len(54321, chunk)
    if big_len % (1 << 20) % chunk == 1:
        big_len += 1
    files = {
        "empty": b"",
        "hello.txt": b"hello from p9fs_scenario\n",
        "exact-chunk.bin": sc.random_bytes(chunk),
        "chunk-plus-2.bin": sc.random_bytes(chunk + 2),
        "medium.bin": sc.random_bytes(common.safe_len(200_003, chunk)),
        "sub/nested.txt": b"nested line\n" * 300,
        "big.bin": sc.random_bytes(big_len),
    }

    with sc.step("create+write"):
        for name, data in files.items():
            piece = (1 << 20) if name == "big.bin" else None
            sup.write_file(fs, f"{top}/{name}", data, piece=piece)

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
        sc.details["big_bytes"] = len(files["big.bin"])
        sc.details["big_sha256"] = sha256(files["big.bin"])

    with sc.step("ranged reads"):
        big = files["big.bin"]
        ranges = [(0, 1), (chunk - 1, 3), (len(big) - 10, 10), (len(big) - 3, 100)]
        ranges += [(sc.rng.randrange(len(big)), sc.rng.randrange(1, 3 * chunk)) for _ in range(4)]
        for off, n in ranges:
            got = sup.read_range(fs, f"{top}/big.bin", off, n)
            sc.check(got == big[off:off + n], f"big.bin[{off}:{off + n}] differs "
                     f"(got {len(got)} bytes, want {len(big[off:off + n])})")

    with sc.step("truncating overwrite"):
        shorter = b"short now\n"
        sup.write_file(fs, f"{top}/medium.bin", shorter)
        sc.check_eq(fs.info(f"{top}/medium.bin")["size"], len(shorter), "size after overwrite")
        sc.check_eq(sup.read_file(fs, f"{top}/medium.bin"), shorter, "content after overwrite")
        files["medium.bin"] = shorter

    with sc.step("rename"):
        old, new = f"{top}/hello.txt", f"{top}/renamed.txt"
        if a.version == "9P2000.L":
            sup.rename_trename(fs, old, top, "renamed.txt")
            sc.details["rename_via"] = "Trename"
        else:
            sup.rename_wstat(fs, old, "renamed.txt")
            sc.details["rename_via"] = "Twstat"
        sc.check(not sup.walk_exists(fs, old), f"{old} still walkable after rename")
        sc.check(sup.walk_exists(fs, new), f"{new} not walkable after rename")
        sc.check_eq(sup.read_file(fs, new), files["hello.txt"], "content of renamed file")
        files["renamed.txt"] = files.pop("hello.txt")

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
        sc.check_eq(sup.list_names(fs, f"{top}/sub"), [], f"listing of {top}/sub after remove")

    with sc.step("remove directories"):
        fs.rmdir(f"{top}/sub")
        sc.check(not sup.walk_exists(fs, f"{top}/sub"), f"{top}/sub still walkable after rmdir")
        sc.check_eq(sup.list_names(fs, top), [], f"listing of {top} after rmdir sub")
        fs.rmdir(top)
        sc.check(not sup.walk_exists(fs, top), f"{top} still walkable after rmdir")
        sc.check(f"{top}/" not in sup.list_names(fs, ""), f"root listing still has {top}/")


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return common.run("p9fs", args, body)


if __name__ == "__main__":
    sys.exit(main())
