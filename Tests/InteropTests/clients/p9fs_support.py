"""Helpers around p9fs 0.0.4 (and the `py9p` package it bundles).

Everything INTEROP.md says one must do to use p9fs as a test client lives here:
  * raise the msize p9fs proposes (P9FileSystem has no parameter for it),
  * make its socket writes complete (Sock.write uses socket.send and raises
    "short write" on a partial send; a slow or busy peer makes that happen),
  * send a real 9P2000.L Trename (p9fs's `mv` is copy + delete),
  * rename by Twstat with a "don't touch" stat for 9P2000 / 9P2000.u,
  * look a path up by a raw Twalk (p9fs's exists() only understands ENOENT
    or the exact text "file not found"),
  * write files without hitting p9fs's dropped-last-byte bug.
"""

from __future__ import annotations

import errno
import inspect
import pathlib

import p9fs
from py9p import py9p as P

from scenario_common import looks_not_found

TRENAME = 20
RRENAME = 21


def patch_msize(msize: int) -> None:
    """Make py9p.Client propose `msize` in Tversion (its default is 8192)."""
    sig = inspect.signature(P.Client.__init__)
    names = [n for n, prm in sig.parameters.items() if prm.default is not inspect.Parameter.empty]
    defaults = list(P.Client.__init__.__defaults__)
    defaults[names.index("msize")] = msize
    P.Client.__init__.__defaults__ = tuple(defaults)


def patch_sendall() -> None:
    """py9p.Sock.write treats a partial send as an error; send the whole frame instead."""
    def write(self, buf):
        if self.closing:
            return len(buf)
        self.sock.sendall(buf)
        return len(buf)
    P.Sock.write = write


def install_trename() -> None:
    """Teach py9p's marshaller Trename (type 20): size[4] 20 tag[2] fid[4] dfid[4] name[s]."""
    if getattr(P.Marshal9P, "_pebble_trename", False):
        return
    P.cmdName[TRENAME] = "Trename"
    P.cmdName[RRENAME] = "Rrename"
    original_enc = P.Marshal9P.enc

    def enc(self, fcall):
        if fcall.type == TRENAME:
            self.encF("=BH", fcall.type, fcall.tag)
            self.encF("=II", fcall.fid, fcall.dfid)
            self.encS(fcall.name)
            return None
        return original_enc(self, fcall)

    # Rrename has an empty body: Marshal9P.dec leaves unknown types alone, which is right.
    P.Marshal9P.enc = enc
    P.Marshal9P._pebble_trename = True


def connect(host: str, port: int, *, uname: str, aname: str, version: str,
            msize: int) -> p9fs.P9FileSystem:
    """A fresh P9FileSystem (never the fsspec instance cache) with all patches applied."""
    patch_msize(msize)
    patch_sendall()
    install_trename()
    return p9fs.P9FileSystem(host=host, port=port, username=uname, aname=aname,
                             version=version, skip_instance_cache=True)


def connect_step(sc, prefix: str):
    """The scenarios' shared first step: a top-level name for this run, a connection with the
    scenario's arguments, and a check of the negotiated msize. Returns (fs, top, chunk)."""
    a = sc.args
    top = sc.unique_name(prefix + a.version.replace(".", "").lower())
    sc.details.update(version=a.version, aname=a.aname, top=top)
    with sc.step("connect"):
        fs = connect(a.host, a.port, uname=a.uname, aname=a.aname, version=a.version, msize=a.msize)
        msize = fs.client.msize
        sc.details["msize"] = msize
        sc.check(4096 <= msize <= a.msize, f"negotiated msize {msize} outside [4096, {a.msize}]")
    return fs, top, msize - 24


def parts(path: str) -> tuple[str, ...]:
    return tuple(pathlib.PurePosixPath(path).parts)


def error_is(exc: Exception, code: int, matches_text) -> bool:
    """Does a py9p RpcError carry errno `code` (.L) or a text `matches_text` accepts (9P2000/.u)?"""
    if not exc.args:
        return False
    what = exc.args[0]
    if isinstance(what, int):
        return what == code
    return matches_text(what)


def is_not_found(exc: Exception) -> bool:
    """Does a py9p RpcError mean "no such file"?"""
    return error_is(exc, errno.ENOENT, looks_not_found)


def is_permission_denied(exc: Exception) -> bool:
    """Does a py9p RpcError mean "permission denied" (EACCES)?"""
    def text(what) -> bool:
        if isinstance(what, bytes):
            what = what.decode("utf-8", "replace")
        return "permission denied" in str(what).lower()
    return error_is(exc, errno.EACCES, text)


def walk_exists(fs: p9fs.P9FileSystem, path: str) -> bool:
    """True if a Twalk from the root reaches `path`; False on "not found" or a short walk.

    Any other error (permission denied, protocol error) is raised, not hidden.
    """
    names = parts(path)
    f = fs.fids.acquire()
    try:
        try:
            reply = fs.client._walk(fs.client.ROOT, f.fid, names)
        except P.RpcError as exc:
            if is_not_found(exc):
                return False
            raise
        if len(reply.wqid) < len(names):
            return False  # a partial walk creates no newfid
        fs.client._clunk(f.fid)
        return True
    finally:
        fs.fids.release(f)


def _walk_fid(fs: p9fs.P9FileSystem, path: str):
    f = fs.fids.acquire()
    names = parts(path)
    reply = fs.client._walk(fs.client.ROOT, f.fid, names)
    if len(reply.wqid) != len(names):
        fs.fids.release(f)
        raise P.RpcError(f"walk to {path!r} stopped after {len(reply.wqid)} of {len(names)} names")
    return f


def _clunk(fs: p9fs.P9FileSystem, f) -> None:
    try:
        fs.client._clunk(f.fid)
    finally:
        fs.fids.release(f)


def rename_trename(fs: p9fs.P9FileSystem, path: str, new_dir: str, new_name: str) -> None:
    """9P2000.L Trename(fid → path, dfid → new_dir, name)."""
    install_trename()
    f = _walk_fid(fs, path)
    try:
        d = _walk_fid(fs, new_dir) if new_dir else None
        try:
            call = P.Fcall(TRENAME)
            call.fid = f.fid
            call.dfid = d.fid if d is not None else fs.client.ROOT
            call.name = new_name
            fs.client._rpc(call)
        finally:
            if d is not None:
                _clunk(fs, d)
    finally:
        _clunk(fs, f)


def dont_touch_dir(dotu: bool, name: bytes = b"") -> "P.Dir":
    """A stat whose every field means "don't change" except (optionally) name."""
    d = P.Dir(dotu,
              type=0xFFFF, dev=0xFFFFFFFF,
              qid=P.Qid(0xFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF),
              mode=0xFFFFFFFF, atime=0xFFFFFFFF, mtime=0xFFFFFFFF,
              length=0xFFFFFFFFFFFFFFFF,
              name=name, uid=b"", gid=b"", muid=b"")
    if dotu:
        d.extension = b""
        d.uidnum = d.gidnum = d.muidnum = 0xFFFFFFFF
    return d


def rename_wstat(fs: p9fs.P9FileSystem, path: str, new_name: str) -> None:
    """9P2000 / 9P2000.u rename within the same directory: Twstat with a don't-touch stat."""
    f = _walk_fid(fs, path)
    try:
        dotu = bool(fs.client.fd.marshal.dotu)
        fs.client._wstat(f.fid, [dont_touch_dir(dotu, new_name.encode("utf-8"))])
    finally:
        _clunk(fs, f)


def upload_pieces(total: int, piece: int, chunk: int) -> list[int]:
    """Split `total` bytes into write() pieces that fsspec will flush one by one (block_size
    = piece). No piece may be ≡ 1 mod chunk (= msize - 24): p9fs would drop its last byte."""
    sizes = []
    left = total
    while left > 0:
        n = min(piece, left)
        sizes.append(n)
        left -= n
    for n in sizes:
        if n % chunk == 1:
            raise ValueError(f"piece of {n} bytes would hit p9fs's last-byte bug (chunk {chunk})")
    return sizes


def write_file(fs: p9fs.P9FileSystem, path: str, data: bytes, *, piece: int | None = None) -> None:
    """Create/truncate `path` and write `data` through p9fs's buffered file.

    With `piece`, data is written in pieces of that size and fsspec flushes each one as a
    separate upload chunk (several chunks → several offsets), otherwise as one chunk.
    """
    chunk = fs.client.msize - P.IOHDRSZ
    if piece is None:
        if len(data) % chunk == 1:
            raise ValueError(f"{len(data)} bytes would hit p9fs's last-byte bug (chunk {chunk})")
        with fs.open(path, "wb") as fh:
            fh.write(data)
        return
    sizes = upload_pieces(len(data), piece, chunk)
    with fs.open(path, "wb", block_size=piece) as fh:
        off = 0
        for n in sizes:
            fh.write(data[off:off + n])
            off += n


def read_file(fs: p9fs.P9FileSystem, path: str) -> bytes:
    with fs.open(path, "rb") as fh:
        return fh.read()


def read_range(fs: p9fs.P9FileSystem, path: str, offset: int, length: int) -> bytes:
    with fs.open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def list_names(fs: p9fs.P9FileSystem, path: str) -> list[str]:
    """Entry names of a directory via fsspec ls; directories get a trailing '/'."""
    out = []
    for entry in fs.ls(path, detail=False):
        is_dir = entry.endswith("/")
        base = entry.rstrip("/").rsplit("/", 1)[-1]
        out.append(base + "/" if is_dir else base)
    return sorted(out)
