import Foundation
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
    /// How attaches present capability tokens; nil: tokens are not configured, and one presented
    /// is refused (a client that brings a token expects to be confined by it).
    public var tokens: TokenPolicy?

    public struct TokenPolicy: Sendable {
        public var verifier: TokenVerifier
        /// Refuse an attach without a token.
        public var required: Bool

        public init(verifier: TokenVerifier, required: Bool) {
            self.verifier = verifier
            self.required = required
        }
    }

    /// The session facts a decision depends on.
    public struct SessionState: Sendable {
        /// The negotiated msize: no reply may be larger.
        public var msize: UInt32
        /// Fids the client holds or has asked for now, and the most it may.
        public var fidCount: Int
        public var maxFids: Int
        /// Who the client is and where it connects from, and the time: what a token's caveats check.
        public var identity: ClientIdentity?
        public var peerHost: String?
        public var now: Date
        /// The backend this session reaches (its route's name, or `default`), which a token's
        /// `backend` caveat must name.
        public var backendName: String

        public init(msize: UInt32, fidCount: Int, maxFids: Int, identity: ClientIdentity? = nil, peerHost: String? = nil,
                    now: Date = Date(timeIntervalSince1970: 0), backendName: String = "default") {
            self.msize = msize
            self.fidCount = fidCount
            self.maxFids = maxFids
            self.identity = identity
            self.peerHost = peerHost
            self.now = now
            self.backendName = backendName
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
        /// A Twalk from a fid with a scope: the names the server gets and where the fid ends up.
        public var walk: WalkPlan?

        public init(sendAs: MessageType? = nil, answerInstead: ProxyError? = nil, count: UInt32? = nil, walk: WalkPlan? = nil) {
            self.sendAs = sendAs
            self.answerInstead = answerInstead
            self.count = count
            self.walk = walk
        }
    }

    public enum Decision: Sendable, Equatable {
        /// Send it on, with these edits.
        case forward(Rewrite)
        /// Answer the client with this error; nothing reaches the server.
        case deny(ProxyError)
        /// Answer the client with this reply; nothing reaches the server.
        case answer(RMessage)
        /// A Tattach with a valid token: the gateway attaches and walks to the capability's root
        /// with its own requests, and hands the client a fid there.
        case attach(Capability)
        /// A Txattrwalk of `delegationAttribute` on a fid of a token's session: the gateway makes
        /// the new fid itself, holding the session's token narrowed to this fid's scope.
        case delegate(FidScope)
        /// A request on a `gatewayValue` fid, answered by the gateway; a Tclunk or Tremove also
        /// forgets the fid.
        case answerAndForget(RMessage)
        /// A Tremove of a fid the gateway holds: refused, and the fid is gone (remove(5) clunks it).
        case denyAndForget(ProxyError)
        /// Tauth with tokens required and none in its aname or uname: the gateway makes the auth
        /// fid itself, and the client writes its token there (then names the fid as Tattach's
        /// afid). Any other Tauth goes to the server as before: diod's tools send one before
        /// every attach, and try the server's own authentication if it is answered.
        case authByToken
        /// A Twrite to such an auth fid: its data is (part of) the token.
        case storeToken
    }

    public init(tokens: TokenPolicy? = nil) {
        self.tokens = tokens
    }

    public func decide(_ request: DecodedRequest, operands: [Operand], session: SessionState) -> Decision {
        var rewrite = Rewrite()
        for (index, operand) in operands.enumerated() {
            switch operand.location.role {
            case .existing, .existingOrNone, .released:
                if operand.location.role == .existingOrNone && operand.clientFid == NineP.noFid { continue }
                guard let record = operand.record else { return .deny(.unknownFid) }
                guard record.state == .ready else { return .deny(.fidBusy) }
                // A value the gateway holds has no fid at the server to name.
                if record.kind == .gatewayValue && !operand.isSubject { return .deny(.fidKind) }
                if let error = Self.authRule(record.kind, type: request.type, operand: operand) { return .deny(error) }
                guard operand.isSubject else { continue }
                if let decision = Self.kindRule(record, kindChanging: operand.kindChanging, request: request,
                                                limit: session.msize &- UInt32(NineP.rreadHeaderSize)) {
                    return decision
                }
                if request.type == .Tremove && record.kind == .auth {
                    // remove(5) clunks the fid even when the remove fails; an auth file is not removed.
                    rewrite.sendAs = .Tclunk
                    rewrite.answerInstead = .authRemove
                }
                if let scope = record.scope {
                    switch Self.scopeRule(request, subject: record, scope: scope, operands: operands) {
                    case let .failure(error): return .deny(error)
                    case let .success(walk): rewrite.walk = walk
                    }
                }
            case .created:
                // Twalk with newfid == fid: the fid is replaced in place.
                let replacesEarlier = operands[..<index].contains {
                    $0.location.role != .created && $0.clientFid == operand.clientFid
                }
                if replacesEarlier { continue }
                guard operand.clientFid != NineP.noFid, operand.record == nil else { return .deny(.fidInUse) }
                guard session.fidCount < session.maxFids else { return .deny(.budgetExceeded(.fids, "fids (\(session.maxFids))")) }
            }
        }
        if case let .attach(attach)? = request.message,
           let decision = tokenRule(attach, authFid: operands.count > 1 ? operands[1].record : nil, session: session) {
            return decision
        }
        if case let .auth(auth)? = request.message, tokens?.required == true,
           ![auth.aname, auth.uname].contains(where: { CapabilityToken.looksLikeToken(String(decoding: $0.bytes, as: UTF8.self)) }) {
            return .authByToken
        }
        if case let .xattrwalk(walk)? = request.message, walk.name == Self.delegationAttribute,
           let scope = operands.first?.record?.scope, scope.tokenID != nil {
            return .delegate(scope)
        }
        if request.type == .Tread || request.type == .Treaddir, let count = request.count {
            // No reply can carry more; a server that sends it anyway (the py9p server does) sends a
            // frame over msize, which ends the session. Asked for what fits, it cannot.
            let fits = session.msize &- UInt32(NineP.rreadHeaderSize)
            if count > fits { rewrite.count = fits }
        }
        return .forward(rewrite)
    }

    // MARK: Capabilities

    /// The extended attribute whose value is the session's token narrowed to the fid it is read
    /// from (`getfattr -n user.pebble.cap FILE` on a Linux mount): how a holder delegates part of
    /// what it may do, with no key.
    public static let delegationAttribute: WireString = "user.pebble.cap"

    /// A `gatewayValue` fid is read and clunked; the gateway answers both.
    static func valueRule(_ value: [UInt8], request: DecodedRequest, limit: UInt32) -> Decision {
        switch request.message {
        case let .read(read)?:
            let start = Int(min(read.offset, UInt64(value.count)))
            let end = start + Int(min(UInt64(min(read.count, limit)), UInt64(value.count - start)))
            return .answer(.read(Rread(data: Array(value[start..<end]))))
        case .clunk?:
            return .answerAndForget(.clunk(Rclunk()))
        case .remove?:
            // remove(5) clunks the fid even when the remove fails.
            return .denyAndForget(.authRemove)
        default:
            return .deny(.fidKind)
        }
    }

    /// A Tattach presents a token as its aname or uname (unmodified clients can set either). Nil:
    /// forward it as it is (no token, and none required).
    func tokenRule(_ attach: Tattach, authFid: ClientFid?, session: SessionState) -> Decision? {
        let written = authFid.flatMap { $0.isGatewayAuth ? $0.value : nil } ?? []
        let presented = [attach.aname.bytes, attach.uname.bytes, written].map { String(decoding: $0, as: UTF8.self) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .first(where: CapabilityToken.looksLikeToken)
        guard let text = presented else { return tokens?.required == true ? .deny(.tokenRequired) : nil }
        guard let tokens else { return .deny(.tokenRejected(.unknownKey("none: this gateway has no token keys"))) }
        switch tokens.verifier.verify(text, now: session.now, identity: session.identity, peerHost: session.peerHost) {
        case let .failure(refusal):
            var error = ProxyError.tokenRejected(refusal.error)
            error.tokenID = refusal.tokenID
            return .deny(error)
        case let .success(capability):
            if let backend = capability.backend, backend != session.backendName {
                var error = ProxyError.tokenRejected(.conflict("token is for backend \(backend), this session reaches \(session.backendName)"))
                error.tokenID = capability.tokenID
                return .deny(error)
            }
            guard capability.root.names.count <= NineP.maxWalkElements else {
                var error = ProxyError.tokenRejected(.badCaveat("path deeper than \(NineP.maxWalkElements) names"))
                error.tokenID = capability.tokenID
                return .deny(error)
            }
            return .attach(capability)
        }
    }

    /// The capability rules for a request on a fid with a scope (`ScopeRules`): names, symlinks,
    /// rights on it and on a second fid. A walk's plan when it may go on.
    static func scopeRule(_ request: DecodedRequest, subject: ClientFid, scope: FidScope,
                          operands: [Operand]) -> Result<WalkPlan?, ProxyError> {
        let names = ScopeRules.names(in: request.message)
        guard names.allSatisfy(ScopeRules.isPlainName) else { return .failure(.badName) }
        if names.contains(where: { BlueTemporary.isTemporary($0.bytes) }) { return .failure(.reservedName) }
        var walk: WalkPlan?
        if case let .walk(message)? = request.message {
            if message.wnames.contains(where: { BlueTemporary.isTemporary($0.bytes) }) { return .failure(.hiddenTemporary) }
            guard let plan = WalkPlan(names: message.wnames, from: scope.path) else { return .failure(.badName) }
            if subject.isSymlink && !message.wnames.isEmpty { return .failure(.throughSymlink) }
            walk = plan
        } else if subject.isSymlink && !ScopeRules.onSymlink.contains(request.type) {
            return .failure(.throughSymlink)
        }
        let needed = ScopeRules.required(for: request, subject: subject)
        guard scope.rights.isSuperset(of: needed.subject) else { return .failure(.permissionDenied) }
        for operand in operands.dropFirst() where operand.location.role != .created {
            guard let second = operand.record, let secondScope = second.scope else { continue }
            if ScopeRules.secondIsDirectory.contains(request.type) && second.isSymlink { return .failure(.throughSymlink) }
            guard secondScope.rights.isSuperset(of: needed.second) else { return .failure(.permissionDenied) }
        }
        return .success(walk)
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
    static func kindRule(_ record: ClientFid, kindChanging: Bool, request: DecodedRequest, limit: UInt32) -> Decision? {
        if record.kind == .gatewayValue { return valueRule(record.value ?? [], request: request, limit: limit) }
        if record.isGatewayAuth {
            switch request.type {
            case .Twrite: return .storeToken
            case .Tread: return .answer(.read(Rread(data: [])))
            default: return valueRule([], request: request, limit: limit)
            }
        }
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
