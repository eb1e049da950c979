import NineP

/// The capability rules: what rights each request needs, which names may reach the server, and
/// what may be done on a symlink. The server follows a symlink whenever it opens, walks through
/// or creates in one (diod builds paths and calls the kernel), so a fid that is a symlink is only
/// looked at, read as a link, renamed, removed or clunked; clients read links with Treadlink and
/// walk to the target themselves (Linux v9fs does).
enum ScopeRules {
    /// Rights the request needs on its first fid and on its second (a rename's target directory).
    static func required(for request: DecodedRequest, subject: ClientFid) -> (subject: Rights, second: Rights) {
        guard let message = request.message else {
            // Twrite: data, or an xattr's value (set by Txattrcreate, which needed `m`).
            return (subject.kind == .xattr ? .modify : .write, [])
        }
        switch message {
        case .walk, .stat, .getattr, .readdir, .readlink, .statfs, .xattrwalk, .lock, .getlock:
            return (.lookup, [])
        case .read:
            return (subject.isDirectory || subject.kind == .xattr ? .lookup : .read, [])
        case .write, .fsync:
            return (.write, [])
        case let .open(open):
            var rights = access(mode: UInt32(open.mode & 3), directory: subject.isDirectory)
            if open.mode & 0x10 != 0 { rights.insert(.write) }   // OTRUNC
            if open.mode & 0x40 != 0 { rights.insert(.delete) }  // ORCLOSE
            return (rights, [])
        case let .lopen(open):
            var rights = access(mode: open.flags & 3, directory: subject.isDirectory)
            if open.flags & 0o1000 != 0 { rights.insert(.write) }  // O_TRUNC
            return (rights, [])
        case let .create(create):
            // A directory (DMDIR) is only made; a file is made and opened in `mode`.
            if create.perm & 0x8000_0000 != 0 { return (.create, []) }
            return (access(mode: UInt32(create.mode & 3), directory: false).union(.create), [])
        case let .lcreate(create):
            return (access(mode: create.flags & 3, directory: false).union(.create), [])
        case .mkdir, .symlink, .mknod, .link:
            return (.create, [])
        case .remove, .unlinkat:
            return (.delete, [])
        case .rename, .renameat:
            return (.delete, .create)
        case let .setattr(setattr):
            return (setattrRights(valid: setattr.valid), [])
        case let .wstat(wstat):
            return (wstatRights(wstat.stat), [])
        case .xattrcreate:
            return (.modify, [])
        case .version, .auth, .attach, .flush, .clunk:
            return ([], [])
        }
    }

    /// Read (0), write (1), read-write (2) or exec (3, a read); reading a directory is looking.
    static func access(mode: UInt32, directory: Bool) -> Rights {
        switch mode {
        case 1: .write
        case 2: [.read, .write]
        default: directory ? .lookup : .read
        }
    }

    /// Tsetattr's valid bits: a size change is a write (with the times it sets); mode, owner and
    /// times alone are metadata.
    static func setattrRights(valid: UInt32) -> Rights {
        let size: UInt32 = 0x8
        if valid & size != 0 { return valid & (0x1 | 0x2 | 0x4) != 0 ? [.write, .modify] : .write }
        return valid == 0 ? [] : .modify
    }

    /// Twstat: a new length is a write, a new name a rename (delete), anything else metadata; a
    /// stat that changes nothing asks for a sync (stat(5)), a write.
    static func wstatRights(_ stat: Stat) -> Rights {
        var rights: Rights = []
        if stat.length != UInt64.max { rights.insert(.write) }
        if !stat.name.bytes.isEmpty { rights.insert(.delete) }
        if stat.mode != UInt32.max || stat.atime != UInt32.max || stat.mtime != UInt32.max
            || !stat.uid.bytes.isEmpty || !stat.gid.bytes.isEmpty {
            rights.insert(.modify)
        }
        return rights.isEmpty ? .write : rights
    }

    /// The names a request hands the server to make, find or move (not a walk's: see `WalkPlan`).
    static func names(in message: TMessage?) -> [WireString] {
        switch message {
        case let .create(create)?: [create.name]
        case let .lcreate(create)?: [create.name]
        case let .symlink(symlink)?: [symlink.name]
        case let .mknod(mknod)?: [mknod.name]
        case let .mkdir(mkdir)?: [mkdir.name]
        case let .link(link)?: [link.name]
        case let .rename(rename)?: [rename.name]
        case let .renameat(rename)?: [rename.oldname, rename.newname]
        case let .unlinkat(unlink)?: [unlink.name]
        case let .wstat(wstat)? where !wstat.stat.name.bytes.isEmpty: [wstat.stat.name]
        default: []
        }
    }

    /// One name inside a directory: not empty, `.` or `..`, no `/` or NUL.
    static func isPlainName(_ name: WireString) -> Bool {
        let bytes = name.bytes
        return !bytes.isEmpty && bytes != [0x2E] && bytes != [0x2E, 0x2E] && !bytes.contains(0x2F) && !bytes.contains(0)
    }

    /// What may be done on a fid that is a symlink without the server following it.
    static let onSymlink: Set<MessageType> = [.Tgetattr, .Tstat, .Treadlink, .Tclunk, .Tremove, .Trename, .Twalk]
    /// Requests whose second fid is a directory the server creates in or moves into.
    static let secondIsDirectory: Set<MessageType> = [.Trename, .Trenameat]
}

/// A walk below a capability root: the names the server gets, and where the fid ends up. A `..`
/// at the root is answered by the gateway with the root's qid (walk(5): the root is its own
/// parent), so it never reaches the server, whose `..` would leave the subtree.
public struct WalkPlan: Sendable, Equatable {
    /// The client's names less the `..` steps taken at the root.
    public var backendNames: [WireString]
    /// Per client name: true when it is a `..` at the root, answered with the root's qid.
    public var atRoot: [Bool]
    /// Where the new fid is when every name is walked.
    public var result: CapabilityPath

    /// Nil when a name is not one a walk may take (`/` or NUL in it, empty, or `.`).
    init?(names: [WireString], from start: CapabilityPath) {
        var path = start.names
        backendNames = []
        atRoot = []
        for name in names {
            if name.bytes == [0x2E, 0x2E] {
                if path.isEmpty {
                    atRoot.append(true)
                    continue
                }
                path.removeLast()
            } else {
                guard ScopeRules.isPlainName(name) else { return nil }
                path.append(String(decoding: name.bytes, as: UTF8.self))
            }
            atRoot.append(false)
            backendNames.append(name)
        }
        result = CapabilityPath(names: path)
    }

    /// Whether the server gets other names than the client sent.
    public var rewritesNames: Bool { atRoot.contains(true) }

    /// The qids the client gets for the server's (`backend`, a prefix of `backendNames`' qids):
    /// the root's for a `..` at the root, and none past the first symlink that is not the last
    /// name (walking through it, the server would follow it).
    public func clientQids(backend: [Qid], rootQid: Qid) -> [Qid] {
        var qids: [Qid] = []
        var next = backend.makeIterator()
        for (index, root) in atRoot.enumerated() {
            if root {
                qids.append(rootQid)
                continue
            }
            guard let qid = next.next() else { break }
            qids.append(qid)
            if qid.type & Qid.symlink != 0 && index < atRoot.count - 1 { break }
        }
        return qids
    }
}
