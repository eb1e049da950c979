#!/usr/bin/env python3
"""p9fs with a read-only capability token as its aname: reads work, every change is refused.

    VENV/bin/python p9fs_readonly_token.py --port P --aname TOKEN --version {9P2000.L,9P2000.u} \
        --file NAME --content TEXT

NAME is a file below the token's path holding TEXT. The scenario reads it, then tries to
create, mkdir, open for writing, open with truncation, truncate and chmod (Tsetattr on .L,
Twstat on .u), rename and remove; each must fail with "permission denied" (EACCES), and
afterwards the file must still hold TEXT and nothing new may exist.

Exit 0 and one JSON line on stdout when every check passed; otherwise exit 1.
"""

from __future__ import annotations

import argparse
import sys

sys.dont_write_bytecode = True

import scenario_common as common  # noqa: E402

TSETATTR = 26


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(p)
    p.add_argument("--aname", required=True, help="the token")
    p.add_argument("--version", required=True, choices=["9P2000.L", "9P2000.u"])
    p.add_argument("--file", required=True)
    p.add_argument("--content", required=True)
    p.add_argument("--msize", type=int, default=65536)
    return p.parse_args(argv)


def install_tsetattr(P) -> None:
    """py9p has no Tsetattr: size[4] 26 tag[2] fid[4] valid[4] mode[4] uid[4] gid[4] size[8] 4×time[8]."""
    if getattr(P.Marshal9P, "_pebble_tsetattr", False):
        return
    P.cmdName[TSETATTR] = "Tsetattr"
    P.cmdName[TSETATTR + 1] = "Rsetattr"
    original_enc = P.Marshal9P.enc

    def enc(self, fcall):
        if fcall.type == TSETATTR:
            self.encF("=BH", fcall.type, fcall.tag)
            self.encF("<IIIIIQQQQQ", fcall.fid, fcall.valid, fcall.mode, 0, 0, fcall.size, 0, 0, 0, 0)
            return None
        return original_enc(self, fcall)

    P.Marshal9P.enc = enc
    P.Marshal9P._pebble_tsetattr = True


def body(sc: common.Scenario) -> None:
    import p9fs_support as sup
    from py9p import py9p as P

    a = sc.args
    dotl = a.version == "9P2000.L"
    with sc.step("connect with the token"):
        fs = sup.connect(a.host, a.port, uname=a.uname, aname=a.aname, version=a.version, msize=a.msize)
    with sc.step("read inside the token's path"):
        sc.check_eq(sup.read_file(fs, a.file).decode(), a.content, "file content")

    def walk(path):
        f = fs.fids.acquire()
        names = sup.parts(path) if path else ()
        reply = fs.client._walk(fs.client.ROOT, f.fid, names)
        sc.check(len(reply.wqid) == len(names), f"walk to {path!r} stopped short")
        return f

    def attempt(what, call, path=""):
        f = walk(path)
        try:
            call(f.fid)
        except P.RpcError as exc:
            sc.check(sup.is_permission_denied(exc), f"{what}: wanted permission denied, got {common.describe(exc)}")
            return
        finally:
            try:
                fs.client._clunk(f.fid)
            except P.RpcError:
                pass  # Tremove clunks the fid even when it fails
            fs.fids.release(f)
        sc.check(False, f"{what} was allowed")

    with sc.step("every change is refused"):
        if dotl:
            attempt("create", lambda fid: fs.client._lcreate(fid, "new.txt", 0o1 | 0o100, 0o644, 0))
            attempt("mkdir", lambda fid: fs.client._mkdir(fid, "newdir", 0o755))
            attempt("open for writing", lambda fid: fs.client._lopen(fid, 1), a.file)
            attempt("open with truncation", lambda fid: fs.client._lopen(fid, 0o1000), a.file)
            install_tsetattr(P)

            def setattr_call(valid, mode=0, size=0):
                def call(fid):
                    fcall = P.Fcall(TSETATTR)
                    fcall.fid, fcall.valid, fcall.mode, fcall.size = fid, valid, mode, size
                    fs.client._rpc(fcall)
                return call
            attempt("truncate (setattr size)", setattr_call(0x8), a.file)
            attempt("chmod (setattr mode)", setattr_call(0x1, mode=0o777), a.file)
            attempt("unlinkat", lambda fid: fs.client._unlinkat(fid, a.file))
            sup.install_trename()

            def rename(fid):
                call = P.Fcall(sup.TRENAME)
                call.fid, call.dfid, call.name = fid, fs.client.ROOT, "renamed.txt"
                fs.client._rpc(call)
            attempt("rename", rename, a.file)
        else:
            attempt("create", lambda fid: fs.client._create(fid, "new.txt", 0o644, 1))
            attempt("open for writing", lambda fid: fs.client._open(fid, 1), a.file)
            attempt("open with truncation", lambda fid: fs.client._open(fid, 0x10), a.file)
            dotu = bool(fs.client.fd.marshal.dotu)
            truncate = sup.dont_touch_dir(dotu)
            truncate.length = 0
            attempt("truncate (wstat length)", lambda fid: fs.client._wstat(fid, [truncate]), a.file)
            chmod = sup.dont_touch_dir(dotu)
            chmod.mode = 0o777
            attempt("chmod (wstat mode)", lambda fid: fs.client._wstat(fid, [chmod]), a.file)
            attempt("rename (wstat name)", lambda fid: fs.client._wstat(fid, [sup.dont_touch_dir(dotu, b"renamed.txt")]), a.file)
        attempt("remove", lambda fid: fs.client._remove(fid), a.file)

    with sc.step("nothing changed"):
        sc.check_eq(sup.read_file(fs, a.file).decode(), a.content, "file content after the refusals")
        for name in ["new.txt", "newdir", "renamed.txt"]:
            sc.check(not sup.walk_exists(fs, name), f"{name} exists")


if __name__ == "__main__":
    sys.exit(common.run("p9fs-readonly-token", parse_args(sys.argv[1:]), body))
