import NineP

/// One client fid: the gateway's record of what it stands for (the plan's P9Cap), which the
/// request policy reads and the session's fid table keeps.
public struct ClientFid: Sendable, Equatable {
    public enum State: Sendable {
        /// Usable by the client.
        case ready
        /// Named as a new fid by a request still in flight; becomes ready on success.
        case pending
        /// Named by a Tclunk/Tremove in flight; gone when the reply comes.
        case releasing
    }

    /// The gateway-allocated fid the backend knows it by.
    public var backendFid: UInt32
    public var state: State

    public init(backendFid: UInt32, state: State) {
        self.backendFid = backendFid
        self.state = state
    }

    /// What a fid stands for beyond a file, where servers are fragile (see `RequestPolicy.refusedOn`).
    public enum Kind: Sendable {
        /// Walked or attached.
        case plain
        /// Opened for I/O (Topen, Tlopen, Tcreate, Tlcreate).
        case open
        /// An extended attribute (Txattrwalk's newfid, Txattrcreate's fid).
        case xattr
        /// An authentication file (Tauth's afid): read, written, clunked, and named as Tattach's afid.
        case auth
        /// A value the gateway holds itself (`user.pebble.cap`): read and clunked, never sent to
        /// the server, which has no fid behind it.
        case gatewayValue
    }
    public var kind = Kind.plain
    /// An open directory in 9P2000 or 9P2000.u (Ropen/Rcreate's qid said so): its reads carry stats.
    public var readsStats = false
    /// For an xattr fid: the attribute's size (Rxattrwalk's, or Txattrcreate's), past which
    /// diod 1.0.24 reads or writes outside its buffer.
    public var xattrSize: UInt64?
    /// What the fid may do and where it is: every fid made by an attach has one, and fids made
    /// from it inherit it, never more. Nil for an auth fid.
    public var scope: FidScope?
    /// For a `gatewayValue` fid: the bytes a read returns. For an auth fid the gateway holds
    /// itself (`isGatewayAuth`): what the client wrote to it, a token.
    public var value: [UInt8]?

    /// An auth fid the gateway answers for (tokens configured), with no fid at the server.
    public var isGatewayAuth: Bool { kind == .auth && backendFid == NineP.noFid }
    /// The type bits of the file's qid (`Qid.directory`, `Qid.symlink` …), from the reply that
    /// made or opened the fid.
    public var qidType: UInt8 = 0
    /// The file's qid path, from the reply that walked to or opened the fid (read-ahead keys files
    /// by it, and Blue tells another name of a file it holds by it).
    public var qidPath: UInt64?

    public var isSymlink: Bool { qidType & Qid.symlink != 0 }
    public var isDirectory: Bool { qidType & Qid.directory != 0 }
}

/// Where a fid is below its capability's root, and what it may do there (the plan's P9Cap).
public struct FidScope: Sendable, Equatable {
    public var rights: Rights
    /// Below the capability root (the attach point).
    public var path: CapabilityPath
    /// The root's qid: a `..` at the root answers it (walk(5): the root is its own parent).
    public var rootQid: Qid
    /// The token the session attached with, if any (logs and events name it).
    public var tokenID: String?
    /// Which attach of the session the fid descends from (its user, its aname): the gateway's
    /// own walks for a fid start from a fid of the same attach, so they act as the same user.
    public var attachID: UInt64

    public init(rights: Rights, path: CapabilityPath, rootQid: Qid, tokenID: String?, attachID: UInt64 = 0) {
        self.rights = rights
        self.path = path
        self.rootQid = rootQid
        self.tokenID = tokenID
        self.attachID = attachID
    }
}
