import NineP
import Pebble

/// A request forwarded to the backend and not yet answered, keyed by the backend tag.
struct PendingRequest {
    enum Origin: Equatable {
        /// A client request; its reply goes back with `clientTag`.
        case client(tag: UInt16)
        /// A request the gateway made itself (cleanup clunks, flushes, version); its reply is consumed.
        case gateway
        /// A request the gateway makes for its own ends on a live session (`ProxySession.sendOwn`):
        /// its reply goes whole to a continuation. Counted against max-inflight like the client's,
        /// and flushed at cleanup like them.
        case own
    }

    var origin: Origin
    var type: MessageType
    /// Unique per session, so a flush can tell its target from a later request that reused the tag.
    var serial: UInt64
    /// Set when the client no longer wants the reply (it went away, or sent Tversion). Requests the
    /// gateway makes itself never reach a client, whatever this says.
    var abandoned = false

    /// The fid this request would create, if any: reserved on the way out, committed by success.
    var createdClientFid: UInt32?
    var createdBackendFid: UInt32?
    /// The fid this request changes in place (opened by Topen/Tlopen/Tcreate/Tlcreate, made an
    /// xattr fid by Txattrcreate, walked by a Twalk with newfid == fid): if the reply is malformed,
    /// what that fid now stands for at the server is unknown.
    var changedFid: (client: UInt32, backend: UInt32)?
    /// For Txattrcreate: the attribute's size, which writes to the fid may not start past.
    var xattrSize: UInt64?
    /// The fid this request releases (Tclunk, Tremove).
    var releasedClientFid: UInt32?
    var releasedBackendFid: UInt32?
    /// The existing backend fids it names (fid, afid, the fid it releases …): their numbers are not
    /// handed out again until it is done.
    var usedBackendFids: [UInt32] = []
    /// For Twalk: how many names it carried, to tell a full walk from a partial one.
    var walkNames = 0
    /// For Tflush: the backend tag and serial of the request it flushes.
    var flushTarget: (tag: UInt16, serial: UInt64)?
    /// For Tread and Treaddir: the largest reply it may bring (its count, capped by msize).
    var replyBytes = 0
    /// For Tread, Treaddir and Twrite: the count asked for, which the reply's count may not exceed.
    var countLimit: UInt32?
    /// For a Tread of an open 9P2000/.u directory: the reply's data must be whole stats, so it is
    /// checked (and never spliced past the gateway).
    var readsStats = false
    /// A 9P2000/.u directory read: the client fid, the offset the client asked for and the one
    /// sent (they differ once temporaries were left out of the fid's earlier reads).
    var statRead: (clientFid: UInt32, client: UInt64, server: UInt64)?
    /// The client gets this error whatever the server answers (a Tremove of an auth fid, sent as
    /// the Tclunk remove(5) implies).
    var answerInstead: ProxyError?
    /// False while the session holds it back (`HeldRequests`): the server has not seen it.
    var sent = true
    /// The scope of the fid it acts on, which what it makes or changes inherits, and its file's type.
    var scope: FidScope?
    var subjectQidType: UInt8 = 0
    /// For a Twalk from a fid with a scope: what the server was sent and where the fid ends up.
    var walk: WalkPlan?
    /// For Tcreate/Tlcreate: the name made (the fid moves there).
    var createdName: WireString?
    /// When it went to the server (seconds, monotonic): `--backend-timeout` counts from here.
    var sentAt: Double?
    /// Its frame's bytes, held against the session's quota until it is answered (its reply's
    /// are `replyBytes` once sent: `ProxySession+Quota`).
    var reservedBytes = 0
    /// A Tlopen/Tlcreate that opens a file for writing: its fid holds its writes (Blue) if it opens
    /// a regular file (`ProxySession+Blue`).
    var blueOpen: ProxySession.BlueOpen?
    /// A request on a Blue fid whose reply the gateway amends: a read overlaid with the held
    /// writes, a getattr's size.
    var blueReply: ProxySession.BlueReply?
    /// For Treaddir: the client's fid, so a read whose every entry was a hidden temporary can be
    /// made again from after them (`ProxySession+BlueTemporaries`).
    var readdirClientFid: UInt32?
    /// One of the steps of a commit (Red): not flushed when the client goes, so a commit it asked
    /// for finishes.
    var commitStep = false
    /// A piece of a client Tread or Twrite split for the server's msize (`ProxySession+Bridging`):
    /// the gateway's own request, but charged to the rates like the client's.
    var isPiece = false
    /// A client request that changes its file's data (`ProxySession.changesFile`), and the file's
    /// qid path (nil: not known, every file): reads made ahead of it stop counting when it is answered.
    var changesFile = false
    var changedQidPath: UInt64?

    /// A client's request, or a piece of one: its bytes count against the rate limits.
    var chargesRates: Bool {
        if case .client = origin { return true }
        return isPiece
    }

    init(origin: Origin, type: MessageType, serial: UInt64) {
        self.origin = origin
        self.type = type
        self.serial = serial
    }
}

/// Outstanding requests by backend tag, and the client's tags in flight.
/// Tags are rewritten so that the gateway can send its own requests on the same backend connection
/// without colliding with the client's, and so a reused or hostile client tag is caught here.
struct TagTable {
    private(set) var pending: [UInt16: PendingRequest] = [:]
    /// Client tag → backend tag, for requests whose reply the client still waits for.
    private(set) var clientTags: [UInt16: UInt16] = [:]
    private var nextTag: UInt16 = 0
    private var nextSerial: UInt64 = 1

    var outstanding: Int { pending.count }
    var clientOutstanding: Int { clientTags.count }
    /// Client requests other than Tflush, and the gateway's own (`Origin.own`), that were sent and
    /// are not answered yet.
    private(set) var requestsAtServer = 0
    /// The sum of the `replyBytes` of the requests sent and not answered yet.
    private(set) var replyBytesExpected = 0
    /// The sum of the `reservedBytes` of every request registered, sent or held.
    private(set) var bytesReserved = 0

    /// Counts a request at the server in (+1) or out (-1).
    private mutating func account(_ request: PendingRequest, _ sign: Int) {
        guard request.sent else { return }
        replyBytesExpected &+= sign &* request.replyBytes
        if request.origin != .gateway, request.type != .Tflush { requestsAtServer &+= sign }
    }

    /// Registers a request and returns its backend tag, or nil when all 65535 tags are in use.
    mutating func add(_ request: PendingRequest) -> UInt16? {
        guard pending.count < Int(NineP.noTag) else { return nil }
        while pending[nextTag] != nil || nextTag == NineP.noTag { nextTag &+= 1 }
        let tag = nextTag
        nextTag &+= 1
        pending[tag] = request
        account(request, 1)
        bytesReserved &+= request.reservedBytes
        if case let .client(clientTag) = request.origin, !request.abandoned {
            clientTags[clientTag] = tag
        }
        return tag
    }

    /// Registers the gateway's Tversion, which must carry NOTAG.
    mutating func addVersion(_ request: PendingRequest) -> Bool {
        guard pending[NineP.noTag] == nil else { return false }
        pending[NineP.noTag] = request
        return true
    }

    mutating func makeSerial() -> UInt64 {
        defer { nextSerial &+= 1 }
        return nextSerial
    }

    func backendTag(forClientTag tag: UInt16) -> UInt16? { clientTags[tag] }

    func isClientTagInUse(_ tag: UInt16) -> Bool { clientTags[tag] != nil }

    /// Removes and returns the request a reply with this backend tag answers.
    mutating func complete(_ tag: UInt16) -> PendingRequest? {
        guard let request = pending.removeValue(forKey: tag) else { return nil }
        account(request, -1)
        bytesReserved &-= request.reservedBytes
        if case let .client(clientTag) = request.origin, clientTags[clientTag] == tag {
            clientTags[clientTag] = nil
        }
        return request
    }

    func request(_ tag: UInt16) -> PendingRequest? { pending[tag] }

    /// Removes and returns the request a server's reply with this tag answers: only one that was
    /// sent (a held request's tag is unknown to the server, so a reply to it is stray).
    mutating func completeReply(_ tag: UInt16) -> PendingRequest? {
        guard pending[tag]?.sent == true else { return nil }
        return complete(tag)
    }

    /// A held request goes to the server now.
    mutating func markSent(_ tag: UInt16) {
        guard var request = pending[tag], !request.sent else { return }
        request.sent = true
        pending[tag] = request
        account(request, 1)
    }

    /// Sets when a request went to the server.
    mutating func setSentAt(_ tag: UInt16, _ time: Double) { pending[tag]?.sentAt = time }

    /// One request is no longer wanted by the client (it was answered for): its reply is dropped,
    /// and its client tag is free again.
    mutating func abandon(_ tag: UInt16) {
        guard let request = pending[tag] else { return }
        pending[tag]?.abandoned = true
        if case let .client(clientTag) = request.origin, clientTags[clientTag] == tag { clientTags[clientTag] = nil }
    }

    /// Marks every outstanding request as no longer wanted by the client.
    mutating func abandonAll() {
        for tag in pending.keys { pending[tag]?.abandoned = true }
        clientTags.removeAll()
    }
}
