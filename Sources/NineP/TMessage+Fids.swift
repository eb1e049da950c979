extension TMessage {
    /// The fid fields of this request, by their spec names, in wire order. It must agree with
    /// `MessageInfo.fidLayout` (a test checks every request against `locateFids`), which is what the
    /// gateway rewrites from; this is the decoded view of the same fields.
    public var fids: [(name: String, value: UInt32)] {
        switch self {
        case let .auth(message): [("afid", message.afid)]
        case let .attach(message): [("fid", message.fid), ("afid", message.afid)]
        case let .walk(message): [("fid", message.fid), ("newfid", message.newfid)]
        case let .open(message): [("fid", message.fid)]
        case let .create(message): [("fid", message.fid)]
        case let .read(message): [("fid", message.fid)]
        case let .write(message): [("fid", message.fid)]
        case let .clunk(message): [("fid", message.fid)]
        case let .remove(message): [("fid", message.fid)]
        case let .stat(message): [("fid", message.fid)]
        case let .wstat(message): [("fid", message.fid)]
        case let .statfs(message): [("fid", message.fid)]
        case let .lopen(message): [("fid", message.fid)]
        case let .lcreate(message): [("fid", message.fid)]
        case let .symlink(message): [("fid", message.fid)]
        case let .mknod(message): [("dfid", message.dfid)]
        case let .rename(message): [("fid", message.fid), ("dfid", message.dfid)]
        case let .readlink(message): [("fid", message.fid)]
        case let .getattr(message): [("fid", message.fid)]
        case let .setattr(message): [("fid", message.fid)]
        case let .xattrwalk(message): [("fid", message.fid), ("newfid", message.newfid)]
        case let .xattrcreate(message): [("fid", message.fid)]
        case let .readdir(message): [("fid", message.fid)]
        case let .fsync(message): [("fid", message.fid)]
        case let .lock(message): [("fid", message.fid)]
        case let .getlock(message): [("fid", message.fid)]
        case let .link(message): [("dfid", message.dfid), ("fid", message.fid)]
        case let .mkdir(message): [("dfid", message.dfid)]
        case let .renameat(message): [("olddirfid", message.olddirfid), ("newdirfid", message.newdirfid)]
        case let .unlinkat(message): [("dirfd", message.dirfd)]
        case .version, .flush: []
        }
    }
}
