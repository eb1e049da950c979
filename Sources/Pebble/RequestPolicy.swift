import NineP

/// What the gateway does with one client request, decided before anything changes: from the
/// decoded request, the records of the fids it names and the session's state. A value with no
/// I/O, so every rule is tested without sockets; the session commits (reserves, rewrites, sends)
/// only after it answered.
///
/// Its first rules are the gateway's guards: fid hygiene (a fid the client does not hold, one
/// busy with another request, a new fid already in use), fid kinds where servers break (`refusedOn`,
/// `authFidUses`), the xattr offset guard, and count caps.
public struct RequestPolicy: Sendable {
    /// The session facts a decision depends on.
    public struct SessionState: Sendable {
        /// The negotiated msize: no reply may be larger.
        public var msize: UInt32
        /// Fids the client holds or has asked for now, and the most it may.
        public var fidCount: Int
        public var maxFids: Int

        public init(msize: UInt32, fidCount: Int, maxFids: Int) {
            self.msize = msize
            self.fidCount = fidCount
            self.maxFids = maxFids
        }
    }

    /// One fid field of the request, in wire order.
    public struct Operand: Sendable {
        public var location: FidLocation
        /// The fid number as the client wrote it.
        public var clientFid: UInt32
        /// The client's record of that fid; nil when it holds none by that number.
        public var record: ClientFid?
        /// A request that will change the fid's kind (an open, Txattrcreate) is at the server.
        public var kindChanging: Bool

        public init(location: FidLocation, clientFid: UInt32, record: ClientFid?, kindChanging: Bool = false) {
            self.location = location
            self.clientFid = clientFid
            self.record = record
            self.kindChanging = kindChanging
        }

        /// The first fid of a request is the one its operation acts on.
        public var isSubject: Bool { location.offset == FrameHeader.byteCount }
    }

    /// Edits the session makes to a forwarded request.
    public struct Rewrite: Sendable, Equatable {
        /// Sent as this type instead (a Tremove of an auth fid goes as the Tclunk remove(5) implies).
        public var sendAs: MessageType?
        /// The client gets this error whatever the server answers.
        public var answerInstead: ProxyError?
        /// A Tread's or Treaddir's count, capped to what a reply within msize can carry.
        public var count: UInt32?

        public init(sendAs: MessageType? = nil, answerInstead: ProxyError? = nil, count: UInt32? = nil) {
            self.sendAs = sendAs
            self.answerInstead = answerInstead
            self.count = count
        }
    }

    public enum Decision: Sendable, Equatable {
        /// Send it on, with these edits.
        case forward(Rewrite)
        /// Answer the client with this error; nothing reaches the server.
        case deny(ProxyError)
        /// Answer the client with this reply; nothing reaches the server.
        case answer(RMessage)
    }

    public init() {}

    public func decide(_ request: DecodedRequest, operands: [Operand], session: SessionState) -> Decision {
        var rewrite = Rewrite()
        for (index, operand) in operands.enumerated() {
            switch operand.location.role {
            case .existing, .existingOrNone, .released:
                if operand.location.role == .existingOrNone && operand.clientFid == NineP.noFid { continue }
                guard let record = operand.record else { return .deny(.unknownFid) }
                guard record.state == .ready else { return .deny(.fidBusy) }
                if let error = Self.authRule(record.kind, type: request.type, operand: operand) { return .deny(error) }
                guard operand.isSubject else { continue }
                if let decision = Self.kindRule(record, kindChanging: operand.kindChanging, request: request) {
                    return decision
                }
                if request.type == .Tremove && record.kind == .auth {
                    // remove(5) clunks the fid even when the remove fails; an auth file is not removed.
                    rewrite.sendAs = .Tclunk
                    rewrite.answerInstead = .authRemove
                }
            case .created:
                // Twalk with newfid == fid: the fid is replaced in place.
                let replacesEarlier = operands[..<index].contains {
                    $0.location.role != .created && $0.clientFid == operand.clientFid
                }
                if replacesEarlier { continue }
                guard operand.clientFid != NineP.noFid, operand.record == nil else { return .deny(.fidInUse) }
                guard session.fidCount < session.maxFids else { return .deny(.tooManyFids) }
            }
        }
        if request.type == .Tread || request.type == .Treaddir, let count = request.count {
            // No reply can carry more; a server that sends it anyway (the py9p server does) sends a
            // frame over msize, which ends the session. Asked for what fits, it cannot.
            let fits = session.msize &- UInt32(NineP.rreadHeaderSize)
            if count > fits { rewrite.count = fits }
        }
        return .forward(rewrite)
    }

    // MARK: Fid kinds

    /// Requests refused (EBADF) when their first fid is of a kind where servers break. An xattr
    /// fid is only read, written and clunked (diod crashed reading through a walked clone of one).
    /// An open fid may be walked (diodls walks from the directory it reads) but not renamed: 9P
    /// allows it, no client does it (Linux renames through a walked fid), and it trips an
    /// assertion in diod that ends the server and every session on it.
    static let refusedOn: [ClientFid.Kind: Set<MessageType>] = [
        .xattr: [.Twalk, .Topen, .Tlopen, .Tcreate, .Tlcreate, .Txattrwalk, .Txattrcreate, .Trename, .Treaddir],
        .open: [.Trename],
    ]
    /// What `refusedOn` refuses for any kind: refused (EBUSY) while the fid's kind is changing.
    static let refusedOnSomeKind = refusedOn.values.reduce(Set<MessageType>()) { $0.union($1) }

    /// Where an auth fid may appear: as the first fid of Tread, Twrite, Tclunk or Tremove, and as
    /// Tattach's afid, which must be one (auth(5), attach(5)). Servers keep another kind of state
    /// behind an auth fid: diod crashed on a Twalk from one. Returns the error for any other use.
    static func authRule(_ kind: ClientFid.Kind, type: MessageType, operand: Operand) -> ProxyError? {
        // Tattach's afid is the only fid that may be NOFID.
        if operand.location.role == .existingOrNone { return kind == .auth ? nil : .notAuthFid }
        guard kind == .auth else { return nil }
        return operand.isSubject && authFidUses.contains(type) ? nil : .fidKind
    }
    static let authFidUses: Set<MessageType> = [.Tread, .Twrite, .Tclunk, .Tremove]

    /// The rules for the fid a request acts on: its kind (`refusedOn`), a kind still changing, and
    /// an xattr fid's size. Nil when the request may go on.
    static func kindRule(_ record: ClientFid, kindChanging: Bool, request: DecodedRequest) -> Decision? {
        if refusedOn[record.kind]?.contains(request.type) == true { return .deny(.fidKind) }
        // Else a Trename or Twalk sent right behind an open would reach the server after it, when
        // the fid may be of a kind it is refused on.
        if kindChanging, refusedOnSomeKind.contains(request.type) { return .deny(.fidBusy) }
        // Past an attribute's size diod 1.0.24 read or wrote outside its buffer (and crashed): a
        // read there finds nothing, a write is refused.
        guard let size = record.xattrSize, request.type == .Tread || request.type == .Twrite,
              let offset = request.offset, offset > size
        else { return nil }
        return request.type == .Tread ? .answer(.read(Rread(data: []))) : .deny(.xattrOffset)
    }
}
