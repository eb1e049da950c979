import NineP

/// A 9P2000.L (or, with `dialect`, 9P2000.u) server in memory, for the Blue model test: one
/// directory of regular files (inodes with names), fids that stand for the directory or a file. A
/// fid keeps its file when the name goes to another (as an open fd does), so an atomic replace
/// can be checked: the name's content changes at the rename, never before.
final class ModelFileServer {
    enum Node: Equatable {
        case directory
        case file(Int)
    }

    private(set) var names: [String: Int] = [:]
    private(set) var inodes: [Int: [UInt8]] = [:]
    private var fids: [UInt32: Node] = [:]
    private var nextInode = 1
    /// Every request it answered, by type (so a test can tell a replace from a commit in place).
    private(set) var seen: [MessageType] = []
    /// Requests of these types fail with EPERM.
    var refuse: Set<MessageType> = []
    let dialect: Dialect
    /// 9P2000.u: a Twstat's name may not be one in use (as Plan 9's servers keep names unique).
    var refusesRenameOver = false
    /// 9P2000.u: a Twstat's length is answered but not made (as the py9p server does).
    var ignoresWstatLength = false
    /// 9P2000.u: a Twstat's name is answered but the names stay as they were (as aio9p's, which
    /// changes the stat alone).
    var renamesStatOnly = false

    init(root: UInt32, dialect: Dialect = .linux) {
        fids[root] = .directory
        self.dialect = dialect
    }

    /// A file named `name` with `content`, and `fid` on it.
    func addFile(_ name: String, content: [UInt8], fid: UInt32) {
        let inode = nextInode
        nextInode += 1
        names[name] = inode
        inodes[inode] = content
        fids[fid] = .file(inode)
    }

    func content(_ name: String) -> [UInt8]? { names[name].flatMap { inodes[$0] } }

    /// Another writer, not through the gateway, changes a file.
    func setContent(_ name: String, _ bytes: [UInt8]) {
        if let inode = names[name] { inodes[inode] = bytes }
    }

    /// The reply a server would send.
    func answer(_ message: TMessage) -> RMessage {
        seen.append(message.type)
        if refuse.contains(message.type) { return error(1) }
        if dialect != .linux, let answer = plan9Answer(message) { return answer }
        switch message {
        case let .walk(walk):
            guard let from = fids[walk.fid] else { return error(9) }
            guard let name = walk.wnames.first else {
                fids[walk.newfid] = from
                return .walk(Rwalk(wqids: []))
            }
            guard from == .directory, walk.wnames.count == 1, let inode = names[String(decoding: name.bytes, as: UTF8.self)] else { return error(2) }
            fids[walk.newfid] = .file(inode)
            return .walk(Rwalk(wqids: [Self.qid(inode)]))
        case let .lcreate(create):
            let name = String(decoding: create.name.bytes, as: UTF8.self)
            guard fids[create.fid] == .directory else { return error(20) }
            guard names[name] == nil else { return error(17) }
            let inode = nextInode
            nextInode += 1
            (names[name], inodes[inode], fids[create.fid]) = (inode, [], .file(inode))
            return .lcreate(Rlcreate(qid: Self.qid(inode), iounit: 0))
        case let .rename(rename):
            guard case let .file(inode)? = fids[rename.fid], fids[rename.dfid] == .directory else { return error(9) }
            names = names.filter { $0.value != inode }
            names[String(decoding: rename.name.bytes, as: UTF8.self)] = inode
            return .rename(Rrename())
        case let .remove(remove):
            defer { fids[remove.fid] = nil }
            guard case let .file(inode)? = fids[remove.fid] else { return error(9) }
            names = names.filter { $0.value != inode }
            return .remove(Rremove())
        case let .clunk(clunk):
            fids[clunk.fid] = nil
            return .clunk(Rclunk())
        case let .getattr(getattr):
            guard case let .file(inode)? = fids[getattr.fid] else { return error(9) }
            var attributes = SessionHarness.sampleGetattr
            attributes.qid = Self.qid(inode)
            attributes.size = UInt64(inodes[inode]?.count ?? 0)
            return .getattr(attributes)
        case let .setattr(setattr):
            guard case let .file(inode)? = fids[setattr.fid] else { return error(9) }
            if setattr.valid & 8 != 0 { resize(inode, Int(setattr.size)) }
            return .setattr(Rsetattr())
        case let .write(write):
            guard case let .file(inode)? = fids[write.fid] else { return error(9) }
            let end = Int(write.offset) + write.data.count
            if inodes[inode, default: []].count < end { resize(inode, end) }
            inodes[inode]?.replaceSubrange(Int(write.offset)..<end, with: write.data)
            return .write(Rwrite(count: UInt32(write.data.count)))
        case let .read(read):
            guard case let .file(inode)? = fids[read.fid], let bytes = inodes[inode] else { return error(9) }
            let from = min(Int(read.offset), bytes.count)
            return .read(Rread(data: Array(bytes[from..<min(bytes.count, from + Int(read.count))])))
        case let .lopen(open):
            guard let node = fids[open.fid] else { return error(9) }
            if case let .file(inode) = node { return .lopen(Rlopen(qid: Self.qid(inode), iounit: 0)) }
            return .lopen(Rlopen(qid: SessionHarness.rootQid, iounit: 0))
        case let .readdir(read):
            guard fids[read.fid] == .directory, read.offset == 0 else { return .readdir(Rreaddir(data: [])) }
            let entries = names.keys.sorted().enumerated().map { index, name in
                Dirent(qid: Self.qid(names[name]!), offset: UInt64(index + 1), type: 8, name: WireString(name))
            }
            return .readdir(Rreaddir(data: Dirent.encodeAll(entries)))
        case .fsync:
            return .fsync(Rfsync())
        default:
            return error(95)
        }
    }

    private func resize(_ inode: Int, _ size: Int) {
        var bytes = inodes[inode] ?? []
        if size < bytes.count { bytes.removeSubrange(size...) } else { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
        inodes[inode] = bytes
    }

    /// Answers what the session sends, one frame at a time, until it sends nothing more; `check`
    /// runs after each answer.
    func serve(_ harness: SessionHarness, check: () -> Void = {}) throws {
        while case let frames = try harness.backendReceived(), !frames.isEmpty {
            for frame in frames {
                harness.backendSends(tag: frame.tag, answer(frame.message))
                check()
            }
        }
    }

    static func qid(_ inode: Int) -> Qid { Qid(type: 0, version: 0, path: UInt64(inode)) }
    func error(_ errno: UInt32) -> RMessage {
        dialect == .linux ? .lerror(Rlerror(ecode: errno)) : .error(Rerror(ename: "error \(errno)", errno: errno))
    }

    /// The stat of `name`'s file (mode 0644, owned by u:g, mtime 1: long ago).
    func stat(_ name: String, inode: Int) -> Stat {
        Stat(qid: Self.qid(inode), mode: 0o644, atime: 1, mtime: 1, length: UInt64(inodes[inode]?.count ?? 0), name: WireString(name),
             uid: "u", gid: "g", muid: "u", nUid: 1000, nGid: 100, nMuid: 1000)
    }

    /// The 9P2000/.u messages (the rest are answered as on 9P2000.L, errors in this dialect's form).
    private func plan9Answer(_ message: TMessage) -> RMessage? {
        switch message {
        case let .create(create):
            let name = String(decoding: create.name.bytes, as: UTF8.self)
            guard fids[create.fid] == .directory else { return error(20) }
            let inode = names[name] ?? nextInode
            if inode == nextInode { nextInode += 1 }
            (names[name], inodes[inode], fids[create.fid]) = (inode, [], .file(inode))
            return .create(Rcreate(qid: Self.qid(inode), iounit: 0))
        case let .open(open):
            guard let node = fids[open.fid] else { return error(9) }
            guard case let .file(inode) = node else { return .open(Ropen(qid: SessionHarness.rootQid, iounit: 0)) }
            if open.mode & 0x10 != 0 { resize(inode, 0) }
            return .open(Ropen(qid: Self.qid(inode), iounit: 0))
        case let .stat(request):
            guard case let .file(inode)? = fids[request.fid] else { return error(9) }
            return .stat(Rstat(stat: stat(names.first { $0.value == inode }?.key ?? "", inode: inode)))
        case let .wstat(request):
            guard case let .file(inode)? = fids[request.fid] else { return error(9) }
            let newName = String(decoding: request.stat.name.bytes, as: UTF8.self)
            if !newName.isEmpty && !renamesStatOnly {
                if refusesRenameOver && names[newName] != nil { return error(17) }
                names = names.filter { $0.value != inode }
                names[newName] = inode
            }
            if request.stat.length != .max && !ignoresWstatLength { resize(inode, Int(request.stat.length)) }
            return .wstat(Rwstat())
        case let .read(read) where fids[read.fid] == .directory:
            guard read.offset == 0 else { return .read(Rread(data: [])) }
            let stats = names.keys.sorted().map { stat($0, inode: names[$0]!) }
            var writer = WireWriter()
            for entry in stats { entry.encode(into: &writer, dialect: dialect) }
            return .read(Rread(data: writer.bytes))
        default:
            return nil
        }
    }
}
