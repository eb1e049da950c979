/// A reply, decoded. One case per R-message, named after it without the R (`.walk(Rwalk)`,
/// `.error(Rerror)`, `.lerror(Rlerror)`).
public enum RMessage: FrameMessage {
    case version(Rversion)
    case auth(Rauth)
    case attach(Rattach)
    case flush(Rflush)
    case error(Rerror)
    case lerror(Rlerror)
    case walk(Rwalk)
    case open(Ropen)
    case create(Rcreate)
    case read(Rread)
    case write(Rwrite)
    case clunk(Rclunk)
    case remove(Rremove)
    case stat(Rstat)
    case wstat(Rwstat)
    case statfs(Rstatfs)
    case lopen(Rlopen)
    case lcreate(Rlcreate)
    case symlink(Rsymlink)
    case mknod(Rmknod)
    case rename(Rrename)
    case readlink(Rreadlink)
    case getattr(Rgetattr)
    case setattr(Rsetattr)
    case xattrwalk(Rxattrwalk)
    case xattrcreate(Rxattrcreate)
    case readdir(Rreaddir)
    case fsync(Rfsync)
    case lock(Rlock)
    case getlock(Rgetlock)
    case link(Rlink)
    case mkdir(Rmkdir)
    case renameat(Rrenameat)
    case unlinkat(Runlinkat)

    public static let isRequest = false

    public var type: MessageType {
        switch self {
        case .version: .Rversion
        case .auth: .Rauth
        case .attach: .Rattach
        case .flush: .Rflush
        case .error: .Rerror
        case .lerror: .Rlerror
        case .walk: .Rwalk
        case .open: .Ropen
        case .create: .Rcreate
        case .read: .Rread
        case .write: .Rwrite
        case .clunk: .Rclunk
        case .remove: .Rremove
        case .stat: .Rstat
        case .wstat: .Rwstat
        case .statfs: .Rstatfs
        case .lopen: .Rlopen
        case .lcreate: .Rlcreate
        case .symlink: .Rsymlink
        case .mknod: .Rmknod
        case .rename: .Rrename
        case .readlink: .Rreadlink
        case .getattr: .Rgetattr
        case .setattr: .Rsetattr
        case .xattrwalk: .Rxattrwalk
        case .xattrcreate: .Rxattrcreate
        case .readdir: .Rreaddir
        case .fsync: .Rfsync
        case .lock: .Rlock
        case .getlock: .Rgetlock
        case .link: .Rlink
        case .mkdir: .Rmkdir
        case .renameat: .Rrenameat
        case .unlinkat: .Runlinkat
        }
    }

    public static func decodeBody(
        _ type: MessageType, from reader: inout WireReader, dialect: Dialect
    ) throws(WireError) -> RMessage {
        switch type {
        case .Rversion: .version(try Rversion(from: &reader, dialect: dialect))
        case .Rauth: .auth(try Rauth(from: &reader, dialect: dialect))
        case .Rattach: .attach(try Rattach(from: &reader, dialect: dialect))
        case .Rflush: .flush(try Rflush(from: &reader, dialect: dialect))
        case .Rerror: .error(try Rerror(from: &reader, dialect: dialect))
        case .Rlerror: .lerror(try Rlerror(from: &reader, dialect: dialect))
        case .Rwalk: .walk(try Rwalk(from: &reader, dialect: dialect))
        case .Ropen: .open(try Ropen(from: &reader, dialect: dialect))
        case .Rcreate: .create(try Rcreate(from: &reader, dialect: dialect))
        case .Rread: .read(try Rread(from: &reader, dialect: dialect))
        case .Rwrite: .write(try Rwrite(from: &reader, dialect: dialect))
        case .Rclunk: .clunk(try Rclunk(from: &reader, dialect: dialect))
        case .Rremove: .remove(try Rremove(from: &reader, dialect: dialect))
        case .Rstat: .stat(try Rstat(from: &reader, dialect: dialect))
        case .Rwstat: .wstat(try Rwstat(from: &reader, dialect: dialect))
        case .Rstatfs: .statfs(try Rstatfs(from: &reader, dialect: dialect))
        case .Rlopen: .lopen(try Rlopen(from: &reader, dialect: dialect))
        case .Rlcreate: .lcreate(try Rlcreate(from: &reader, dialect: dialect))
        case .Rsymlink: .symlink(try Rsymlink(from: &reader, dialect: dialect))
        case .Rmknod: .mknod(try Rmknod(from: &reader, dialect: dialect))
        case .Rrename: .rename(try Rrename(from: &reader, dialect: dialect))
        case .Rreadlink: .readlink(try Rreadlink(from: &reader, dialect: dialect))
        case .Rgetattr: .getattr(try Rgetattr(from: &reader, dialect: dialect))
        case .Rsetattr: .setattr(try Rsetattr(from: &reader, dialect: dialect))
        case .Rxattrwalk: .xattrwalk(try Rxattrwalk(from: &reader, dialect: dialect))
        case .Rxattrcreate: .xattrcreate(try Rxattrcreate(from: &reader, dialect: dialect))
        case .Rreaddir: .readdir(try Rreaddir(from: &reader, dialect: dialect))
        case .Rfsync: .fsync(try Rfsync(from: &reader, dialect: dialect))
        case .Rlock: .lock(try Rlock(from: &reader, dialect: dialect))
        case .Rgetlock: .getlock(try Rgetlock(from: &reader, dialect: dialect))
        case .Rlink: .link(try Rlink(from: &reader, dialect: dialect))
        case .Rmkdir: .mkdir(try Rmkdir(from: &reader, dialect: dialect))
        case .Rrenameat: .renameat(try Rrenameat(from: &reader, dialect: dialect))
        case .Runlinkat: .unlinkat(try Runlinkat(from: &reader, dialect: dialect))
        case .Tstatfs, .Tlopen, .Tlcreate, .Tsymlink, .Tmknod, .Trename, .Treadlink, .Tgetattr,
             .Tsetattr, .Txattrwalk, .Txattrcreate, .Treaddir, .Tfsync, .Tlock, .Tgetlock, .Tlink,
             .Tmkdir, .Trenameat, .Tunlinkat, .Tversion, .Tauth, .Tattach, .Tflush, .Twalk, .Topen,
             .Tcreate, .Tread, .Twrite, .Tclunk, .Tremove, .Tstat, .Twstat:
            throw .wrongDirection(type.rawValue)
        case .Tlerror, .Terror:
            throw .unknownType(type.rawValue)
        }
    }

    public func encodeBody(into writer: inout WireWriter, dialect: Dialect) {
        switch self {
        case let .version(message): message.encode(into: &writer, dialect: dialect)
        case let .auth(message): message.encode(into: &writer, dialect: dialect)
        case let .attach(message): message.encode(into: &writer, dialect: dialect)
        case let .flush(message): message.encode(into: &writer, dialect: dialect)
        case let .error(message): message.encode(into: &writer, dialect: dialect)
        case let .lerror(message): message.encode(into: &writer, dialect: dialect)
        case let .walk(message): message.encode(into: &writer, dialect: dialect)
        case let .open(message): message.encode(into: &writer, dialect: dialect)
        case let .create(message): message.encode(into: &writer, dialect: dialect)
        case let .read(message): message.encode(into: &writer, dialect: dialect)
        case let .write(message): message.encode(into: &writer, dialect: dialect)
        case let .clunk(message): message.encode(into: &writer, dialect: dialect)
        case let .remove(message): message.encode(into: &writer, dialect: dialect)
        case let .stat(message): message.encode(into: &writer, dialect: dialect)
        case let .wstat(message): message.encode(into: &writer, dialect: dialect)
        case let .statfs(message): message.encode(into: &writer, dialect: dialect)
        case let .lopen(message): message.encode(into: &writer, dialect: dialect)
        case let .lcreate(message): message.encode(into: &writer, dialect: dialect)
        case let .symlink(message): message.encode(into: &writer, dialect: dialect)
        case let .mknod(message): message.encode(into: &writer, dialect: dialect)
        case let .rename(message): message.encode(into: &writer, dialect: dialect)
        case let .readlink(message): message.encode(into: &writer, dialect: dialect)
        case let .getattr(message): message.encode(into: &writer, dialect: dialect)
        case let .setattr(message): message.encode(into: &writer, dialect: dialect)
        case let .xattrwalk(message): message.encode(into: &writer, dialect: dialect)
        case let .xattrcreate(message): message.encode(into: &writer, dialect: dialect)
        case let .readdir(message): message.encode(into: &writer, dialect: dialect)
        case let .fsync(message): message.encode(into: &writer, dialect: dialect)
        case let .lock(message): message.encode(into: &writer, dialect: dialect)
        case let .getlock(message): message.encode(into: &writer, dialect: dialect)
        case let .link(message): message.encode(into: &writer, dialect: dialect)
        case let .mkdir(message): message.encode(into: &writer, dialect: dialect)
        case let .renameat(message): message.encode(into: &writer, dialect: dialect)
        case let .unlinkat(message): message.encode(into: &writer, dialect: dialect)
        }
    }
}
