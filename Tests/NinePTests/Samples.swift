import NineP

/// One sample of every message, with distinct fid values (so a fid read from the wrong offset shows)
/// and the dialect-dependent fields set the way each dialect carries them.
enum Samples {
    static let qid = Qid(type: Qid.directory, version: 7, path: 0x0102_0304_0506_0708)
    static let fileQid = Qid(type: 0, version: 1, path: 42)

    static func stat(_ dialect: Dialect) -> Stat {
        var stat = Stat(
            type: 3, dev: 9, qid: fileQid, mode: 0o644, atime: 1_700_000_000, mtime: 1_700_000_100,
            length: 12_345, name: "notes.txt", uid: "glenda", gid: "sys", muid: "glenda"
        )
        if dialect.hasUnixExtensions {
            stat.extension = ""
            stat.nUid = 1000
            stat.nGid = 100
            stat.nMuid = 1000
        }
        return stat
    }

    static func nUname(_ dialect: Dialect) -> UInt32 { dialect.hasUnixExtensions ? 1000 : NineP.noUid }

    static let dirents = [
        Dirent(qid: qid, offset: 1, type: 4, name: "."),
        Dirent(qid: fileQid, offset: 2, type: 8, name: "notes.txt"),
    ]

    /// Requests that belong to `dialect`.
    static func requests(_ dialect: Dialect) -> [TMessage] {
        let all: [TMessage] = [
            .version(Tversion(msize: 8192, version: dialect.version)),
            .auth(Tauth(afid: 0x33, uname: "glenda", aname: "", nUname: nUname(dialect))),
            .attach(Tattach(fid: 0x11, afid: 0x33, uname: "glenda", aname: "/srv", nUname: nUname(dialect))),
            .attach(Tattach(fid: 0x11, afid: NineP.noFid, uname: "", aname: "", nUname: nUname(dialect))),
            .flush(Tflush(oldtag: 5)),
            .walk(Twalk(fid: 0x11, newfid: 0x22, wnames: ["usr", "glenda", "lib"])),
            .walk(Twalk(fid: 0x11, newfid: 0x22, wnames: [])),
            .walk(Twalk(fid: 0x11, newfid: 0x22, wnames: Array(repeating: "a", count: 16))),
            .open(Topen(fid: 0x11, mode: 1)),
            .create(Tcreate(fid: 0x11, name: "new", perm: 0o755, mode: 2,
                            extension: dialect.hasUnixExtensions ? "target" : "")),
            .read(Tread(fid: 0x11, offset: 4096, count: 8192)),
            .write(Twrite(fid: 0x11, offset: 1, data: [1, 2, 3, 0xFF])),
            .write(Twrite(fid: 0x11, offset: 0, data: [])),
            .clunk(Tclunk(fid: 0x11)),
            .remove(Tremove(fid: 0x11)),
            .stat(Tstat(fid: 0x11)),
            .wstat(Twstat(fid: 0x11, stat: stat(dialect))),
            .statfs(Tstatfs(fid: 0x11)),
            .lopen(Tlopen(fid: 0x11, flags: 0o100002)),
            .lcreate(Tlcreate(fid: 0x11, name: "f", flags: 0o101, mode: 0o644, gid: 100)),
            .symlink(Tsymlink(fid: 0x11, name: "link", symtgt: "../target", gid: 100)),
            .mknod(Tmknod(dfid: 0x44, name: "null", mode: 0o20666, major: 1, minor: 3, gid: 0)),
            .rename(Trename(fid: 0x11, dfid: 0x44, name: "moved")),
            .readlink(Treadlink(fid: 0x11)),
            .getattr(Tgetattr(fid: 0x11, requestMask: 0x3FFF)),
            .setattr(Tsetattr(fid: 0x11, valid: 0x1FF, mode: 0o600, uid: 1, gid: 2, size: 3,
                              atimeSec: 4, atimeNsec: 5, mtimeSec: 6, mtimeNsec: 7)),
            .xattrwalk(Txattrwalk(fid: 0x11, newfid: 0x22, name: "user.comment")),
            .xattrcreate(Txattrcreate(fid: 0x11, name: "user.comment", attrSize: 10, flags: 1)),
            .readdir(Treaddir(fid: 0x11, offset: 0, count: 4096)),
            .fsync(Tfsync(fid: 0x11, datasync: 1)),
            .fsync(Tfsync(fid: 0x11, datasync: nil)),
            .lock(Tlock(fid: 0x11, type: 1, flags: 1, start: 0, length: 100, procID: 77, clientID: "host")),
            .getlock(Tgetlock(fid: 0x11, type: 0, start: 10, length: 0, procID: 77, clientID: "host")),
            .link(Tlink(dfid: 0x44, fid: 0x11, name: "hard")),
            .mkdir(Tmkdir(dfid: 0x44, name: "dir", mode: 0o755, gid: 100)),
            .renameat(Trenameat(olddirfid: 0x44, oldname: "a", newdirfid: 0x55, newname: "b")),
            .unlinkat(Tunlinkat(dirfd: 0x44, name: "gone", flags: 0x200)),
        ]
        return all.filter { $0.type.info.dialects.contains(dialect) }
    }

    /// Replies that belong to `dialect`.
    static func replies(_ dialect: Dialect) -> [RMessage] {
        var errors: [RMessage] = switch dialect {
        case .plan9: [.error(Rerror(ename: "file does not exist"))]
        case .unix: [.error(Rerror(ename: "file does not exist", errno: 2))]
        case .linux: [.error(Rerror(ename: "No such file", errno: 2)), .error(Rerror(ename: "No such file"))]
        }
        errors.append(.lerror(Rlerror(ecode: 2)))
        let all: [RMessage] = errors + [
            .version(Rversion(msize: 8192, version: dialect.version)),
            .auth(Rauth(aqid: Qid(type: Qid.auth, version: 0, path: 1))),
            .attach(Rattach(qid: qid)),
            .flush(Rflush()),
            .walk(Rwalk(wqids: [qid, fileQid])),
            .walk(Rwalk(wqids: [])),
            .open(Ropen(qid: fileQid, iounit: 8168)),
            .create(Rcreate(qid: fileQid, iounit: 0)),
            .read(Rread(data: Array("hello, world\n".utf8))),
            .read(Rread(data: [])),
            .write(Rwrite(count: 4)),
            .clunk(Rclunk()),
            .remove(Rremove()),
            .stat(Rstat(stat: stat(dialect))),
            .wstat(Rwstat()),
            .statfs(Rstatfs(type: 0x01021997, bsize: 4096, blocks: 1000, bfree: 500, bavail: 400,
                            files: 100, ffree: 50, fsid: 0xABCD, namelen: 255)),
            .lopen(Rlopen(qid: fileQid, iounit: 8168)),
            .lcreate(Rlcreate(qid: fileQid, iounit: 8168)),
            .symlink(Rsymlink(qid: fileQid)),
            .mknod(Rmknod(qid: fileQid)),
            .rename(Rrename()),
            .readlink(Rreadlink(target: "../target")),
            .getattr(Rgetattr(
                valid: 0x7FF, qid: fileQid, mode: 0o100644, uid: 1000, gid: 100, nlink: 1, rdev: 0,
                size: 12_345, blksize: 4096, blocks: 24, atimeSec: 1, atimeNsec: 2, mtimeSec: 3,
                mtimeNsec: 4, ctimeSec: 5, ctimeNsec: 6, btimeSec: 7, btimeNsec: 8, gen: 9, dataVersion: 10
            )),
            .setattr(Rsetattr()),
            .xattrwalk(Rxattrwalk(size: 10)),
            .xattrcreate(Rxattrcreate()),
            .readdir(Rreaddir(data: Dirent.encodeAll(dirents))),
            .readdir(Rreaddir(data: [])),
            .fsync(Rfsync()),
            .lock(Rlock(status: 0)),
            .getlock(Rgetlock(type: 2, start: 0, length: 0, procID: 0, clientID: "")),
            .link(Rlink()),
            .mkdir(Rmkdir(qid: qid)),
            .renameat(Rrenameat()),
            .unlinkat(Runlinkat()),
        ]
        return all.filter { $0.type.info.dialects.contains(dialect) }
    }

    /// Every sample frame of `dialect`, requests and replies, encoded.
    static func frames(_ dialect: Dialect) -> [(type: MessageType, bytes: [UInt8])] {
        requests(dialect).map { ($0.type, Frame(tag: 9, message: $0).encode(dialect: dialect)) }
            + replies(dialect).map { ($0.type, Frame(tag: 9, message: $0).encode(dialect: dialect)) }
    }

    /// Decodes `bytes` in the direction its type byte says; used where a test holds frames of both kinds.
    static func decode(_ bytes: [UInt8], dialect: Dialect) throws(WireError) {
        if bytes.count > 4, bytes[4] & 1 == 1 {
            _ = try Frame<RMessage>.decode(bytes, dialect: dialect)
        } else {
            _ = try Frame<TMessage>.decode(bytes, dialect: dialect)
        }
    }
}

extension Array where Element == UInt8 {
    /// A copy with the frame's size field set to `size` (how tests make a cut or padded frame
    /// consistent, so the body decoder is what must catch it).
    func withSize(_ size: Int) -> [UInt8] {
        var copy = self
        let value = UInt32(truncatingIfNeeded: size)
        for index in 0..<4 { copy[index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
        return copy
    }
}
