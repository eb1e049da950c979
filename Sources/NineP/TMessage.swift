/// A request, decoded. One case per T-message, named after it without the T (`.walk(Twalk)`).
/// Full decoding is for tests, policy checks that need a field, and replies the gateway must read;
/// the hot path forwards frames using `FrameHeader` and `MessageInfo.locateFids` instead.
public enum TMessage: FrameMessage {
    case version(Tversion)
    case auth(Tauth)
    case attach(Tattach)
    case flush(Tflush)
    case walk(Twalk)
    case open(Topen)
    case create(Tcreate)
    case read(Tread)
    case write(Twrite)
    case clunk(Tclunk)
    case remove(Tremove)
    case stat(Tstat)
    case wstat(Twstat)
    case statfs(Tstatfs)
    case lopen(Tlopen)
    case lcreate(Tlcreate)
    case symlink(Tsymlink)
    case mknod(Tmknod)
    case rename(Trename)
    case readlink(Treadlink)
    case getattr(Tgetattr)
    case setattr(Tsetattr)
    case xattrwalk(Txattrwalk)
    case xattrcreate(Txattrcreate)
    case readdir(Treaddir)
    case fsync(Tfsync)
    case lock(Tlock)
    case getlock(Tgetlock)
    case link(Tlink)
    case mkdir(Tmkdir)
    case renameat(Trenameat)
    case unlinkat(Tunlinkat)

    public static let isRequest = true

    public var type: MessageType {
        switch self {
        case .version: .Tversion
        case .auth: .Tauth
        case .attach: .Tattach
        case .flush: .Tflush
        case .walk: .Twalk
        case .open: .Topen
        case .create: .Tcreate
        case .read: .Tread
        case .write: .Twrite
        case .clunk: .Tclunk
        case .remove: .Tremove
        case .stat: .Tstat
        case .wstat: .Twstat
        case .statfs: .Tstatfs
        case .lopen: .Tlopen
        case .lcreate: .Tlcreate
        case .symlink: .Tsymlink
        case .mknod: .Tmknod
        case .rename: .Trename
        case .readlink: .Treadlink
        case .getattr: .Tgetattr
        case .setattr: .Tsetattr
        case .xattrwalk: .Txattrwalk
        case .xattrcreate: .Txattrcreate
        case .readdir: .Treaddir
        case .fsync: .Tfsync
        case .lock: .Tlock
        case .getlock: .Tgetlock
        case .link: .Tlink
        case .mkdir: .Tmkdir
        case .renameat: .Trenameat
        case .unlinkat: .Tunlinkat
        }
    }

    public static func decodeBody(
        _ type: MessageType, from reader: inout WireReader, dialect: Dialect
    ) throws(WireError) -> TMessage {
        switch type {
        case .Tversion: .version(try Tversion(from: &reader, dialect: dialect))
        case .Tauth: .auth(try Tauth(from: &reader, dialect: dialect))
        case .Tattach: .attach(try Tattach(from: &reader, dialect: dialect))
        case .Tflush: .flush(try Tflush(from: &reader, dialect: dialect))
        case .Twalk: .walk(try Twalk(from: &reader, dialect: dialect))
        case .Topen: .open(try Topen(from: &reader, dialect: dialect))
        case .Tcreate: .create(try Tcreate(from: &reader, dialect: dialect))
        case .Tread: .read(try Tread(from: &reader, dialect: dialect))
        case .Twrite: .write(try Twrite(from: &reader, dialect: dialect))
        case .Tclunk: .clunk(try Tclunk(from: &reader, dialect: dialect))
        case .Tremove: .remove(try Tremove(from: &reader, dialect: dialect))
        case .Tstat: .stat(try Tstat(from: &reader, dialect: dialect))
        case .Twstat: .wstat(try Twstat(from: &reader, dialect: dialect))
        case .Tstatfs: .statfs(try Tstatfs(from: &reader, dialect: dialect))
        case .Tlopen: .lopen(try Tlopen(from: &reader, dialect: dialect))
        case .Tlcreate: .lcreate(try Tlcreate(from: &reader, dialect: dialect))
        case .Tsymlink: .symlink(try Tsymlink(from: &reader, dialect: dialect))
        case .Tmknod: .mknod(try Tmknod(from: &reader, dialect: dialect))
        case .Trename: .rename(try Trename(from: &reader, dialect: dialect))
        case .Treadlink: .readlink(try Treadlink(from: &reader, dialect: dialect))
        case .Tgetattr: .getattr(try Tgetattr(from: &reader, dialect: dialect))
        case .Tsetattr: .setattr(try Tsetattr(from: &reader, dialect: dialect))
        case .Txattrwalk: .xattrwalk(try Txattrwalk(from: &reader, dialect: dialect))
        case .Txattrcreate: .xattrcreate(try Txattrcreate(from: &reader, dialect: dialect))
        case .Treaddir: .readdir(try Treaddir(from: &reader, dialect: dialect))
        case .Tfsync: .fsync(try Tfsync(from: &reader, dialect: dialect))
        case .Tlock: .lock(try Tlock(from: &reader, dialect: dialect))
        case .Tgetlock: .getlock(try Tgetlock(from: &reader, dialect: dialect))
        case .Tlink: .link(try Tlink(from: &reader, dialect: dialect))
        case .Tmkdir: .mkdir(try Tmkdir(from: &reader, dialect: dialect))
        case .Trenameat: .renameat(try Trenameat(from: &reader, dialect: dialect))
        case .Tunlinkat: .unlinkat(try Tunlinkat(from: &reader, dialect: dialect))
        case .Rlerror, .Rstatfs, .Rlopen, .Rlcreate, .Rsymlink, .Rmknod, .Rrename, .Rreadlink,
             .Rgetattr, .Rsetattr, .Rxattrwalk, .Rxattrcreate, .Rreaddir, .Rfsync, .Rlock, .Rgetlock,
             .Rlink, .Rmkdir, .Rrenameat, .Runlinkat, .Rversion, .Rauth, .Rattach, .Rerror, .Rflush,
             .Rwalk, .Ropen, .Rcreate, .Rread, .Rwrite, .Rclunk, .Rremove, .Rstat, .Rwstat:
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
