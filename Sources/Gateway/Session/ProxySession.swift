import Foundation
import NineP
import Pebble

/// One client's session (the plan's P9Sess): version and msize, the tag table, the fid table, and
/// the rules that keep the backend's view consistent. It sees whole frames and answers through its
/// host; it never reads or writes a socket.
///
/// Check, then commit: a request reserves the fid it would create and the reply commits or drops it.
/// An error never changes the fid table; a partial Rwalk never creates the newfid.
///
/// This file holds its state and the path of client requests and server replies; the extensions
/// hold its limits and settings (+Settings), fid bookkeeping (+Fids), Tflush (+Flush), version and
/// the session's end (+Lifecycle), held and own requests (+OwnRequests), capabilities
/// (+Capability), rate limits (+Pacing), the byte quota (+Quota), fids and requests per identity
/// (+ClientTotals), Blue writes (+Blue: what is held; +BlueCommit: the commit; +BlueReplace: the
/// atomic replace and streaming; +BlueReplacePlan9: its 9P2000/.u steps; +BlueSpill: held bytes
/// past --blue-memory in a file; +BlueTemporaries: the temporaries hidden and swept), backend timeouts (+Timeouts), msize
/// bridging (+Bridging: requests split for a server with a smaller msize) and read-ahead
/// (+ReadAhead), and what goes to the client (+Replies). `RequestPolicy` decides; this commits.
final class ProxySession {
    enum Phase: Equatable {
        /// Waiting for the client's Tversion.
        case unversioned
        /// A Tversion is at the backend; the client's next frames wait.
        case negotiating(clientTag: UInt16, offered: UInt32, wanted: Dialect)
        /// A mid-session Tversion: waiting for outstanding replies and cleanup clunks first.
        case resetting(clientTag: UInt16, msize: UInt32, version: WireString)
        case active
        /// The client is gone: flushing, clunking, then closing the backend.
        case draining
        case closed
    }

    /// Set at the start; an identity's own (`client-budget`) may replace them before Tversion.
    var limits: Limits
    /// Set at the start; an identity's own Blue setting (`client-budget`) may replace `blue`.
    var access: Access
    /// Decides each client request before anything changes (`RequestPolicy`).
    var policy: RequestPolicy
    unowned let host: SessionHost
    var phase: Phase = .unversioned
    /// The negotiated dialect; nil until the first Rversion.
    var dialect: Dialect?
    /// The client's msize, and the server's: smaller when the gateway bridges (`+Bridging`).
    var msize: UInt32 = 0
    var backendMsize: UInt32 = 0
    var fids: FidTable
    var tags = TagTable()
    /// Requests checked and registered, waiting for room at the server.
    var held = HeldRequests()
    /// Client Tclunks and Tremoves waiting for the other requests that name their fid (by backend
    /// fid): each with its backend tag and frame. Servers free a fid when it is clunked, whatever
    /// still runs on it: diod crashed (use after free) on a Tread and a Tclunk of one fid sent
    /// together. The fid is `releasing` meanwhile, so nothing new names it.
    var releasesWaiting: [UInt32: (tag: UInt16, bytes: [UInt8])] = [:]
    /// Backend fids with a Topen/Tlopen/Tcreate/Tlcreate/Txattrcreate in flight, and how many: what
    /// kind of fid each will be is not known until the reply, so what `RequestPolicy.refusedOn` refuses for any
    /// kind waits (EBUSY) meanwhile; else a Trename or Twalk sent right behind the open would
    /// reach the server after it.
    var kindChanging: [UInt32: Int] = [:]
    /// The client Tflush at the server for a request there (by its backend tag), with that
    /// request's serial: the server gets one client flush per request.
    var flushOfTarget: [UInt16: (flush: UInt16, serial: UInt64)] = [:]
    /// Client Tflushes waiting on a Tflush at the server (by its backend tag), answered right after
    /// it, in order: each with its backend tag and serial.
    var flushWaiters: [UInt16: [(tag: UInt16, serial: UInt64)]] = [:]
    /// The client Tflush at the server for each client tag it flushes (oldtag → its backend tag),
    /// until the server answers it: a later Tflush of that tag waits for it even once the request
    /// itself has been answered (flush(5): the Rflushes for one request come in order).
    var flushOfClientTag: [UInt16: UInt16] = [:]
    /// Refusals so far of the kinds a client can repeat at will (`repeatableEvents`), whose audit
    /// events are logged for the first 16 of a session, then every thousandth (all are counted).
    var repeatedEvents: [AuditEvent.Kind: Int] = [:]
    static let repeatableEvents: Set<AuditEvent.Kind> = [.staleFidAccess, .budgetExceeded]
    /// The token of the session's latest attach with one: events about no fid in particular name it.
    var sessionTokenID: String?
    /// The smallest `fids` caveat of the tokens the session attached with: its fid budget then.
    var tokenFidLimit: Int?
    /// The tokens the session attached with, by id, with their capability's root: what
    /// delegation narrows.
    var sessionTokens: [String: (token: CapabilityToken, root: CapabilityPath)] = [:]
    /// The continuations of the gateway's own requests at the server or held (by backend tag).
    var ownReplies: [UInt16: OwnReply] = [:]
    var stats = SessionStats()
    /// Live backend fids when the last round of cleanup clunks went out (nil before the first):
    /// a session may hold more fids than there are tags, so cleanup goes in rounds, each of
    /// which must leave fewer.
    var cleanupLiveBefore: Int?

    init(limits: Limits, access: Access = Access(), host: SessionHost) {
        self.limits = limits
        self.access = access
        policy = RequestPolicy(tokens: access.tokens)
        self.host = host
        self.fids = FidTable()
    }

    /// The largest frame the client may send now (checked before its bytes are waited for, and
    /// reserved at once). Before negotiation the only frame is a Tversion, so a few bytes of header
    /// claiming a large frame cannot make an unversioned connection hold a large buffer.
    var clientFrameLimit: UInt32 { msize == 0 ? Self.versionFrameLimit : msize }
    /// The largest frame the backend may send; before negotiation only its Rversion (or error).
    var backendFrameLimit: UInt32 { backendMsize == 0 ? Self.versionFrameLimit : backendMsize }

    /// The most bytes a client may write to a gateway auth fid: far above any token.
    static let maxTokenBytes = 8192

    /// Tversion and Rversion are 13 bytes and a version string ("9P2000.L"); this is ample.
    static let versionFrameLimit: UInt32 = 8192

    /// Whether the next client frame may be handled now. False while a version exchange is in
    /// progress, while `maxHeldBytes` of requests wait for room at the server or for a Blue
    /// commit, or while the rate limits are in debt: the frame stays unread, so the client's
    /// socket fills and TCP pushes back.
    var acceptsClientFrames: Bool {
        switch phase {
        case .unversioned: true
        case .active: held.bytes &+ blueDeferredBytes < limits.maxHeldBytes && (pacing == nil || pacingDelay == 0)
        default: false
        }
    }

    /// Whether the server may be sent another client request now (`Limits`).
    var roomAtServer: Bool {
        tags.requestsAtServer < limits.maxInFlight && tags.replyBytesExpected < limits.maxReplyBytes
    }

    /// Whether a request handled now goes straight to the server, so a Twrite's data may follow
    /// its head (a held request must be whole).
    var sendsRequestsNow: Bool { phase == .active && held.isEmpty && canSendNow }

    /// Rate limits on the client's requests (`ProxySession+Pacing`); nil: none.
    var pacing: Pacing?
    /// The byte budget (`ProxySession+Quota`); nil: none (`--pebble off`).
    var quota: Quota?
    /// Fids and unanswered requests per identity (`ProxySession+ClientTotals`); nil shares: no limit.
    var clientTotals = ClientTotals()
    /// Bytes in the session's buffers when the host last said.
    var bytesBuffered = 0
    /// Blue state by backend fid (`ProxySession+Blue`), the client tags of requests waiting for a
    /// commit, and the bytes both hold (counted in `bytesHeld`).
    var blue: [UInt32: BlueFid] = [:]
    var blueDeferredTags: Set<UInt16> = []
    var blueDeferredBytes = 0
    /// Client tags of Tlcreates handled again without O_EXCL (`createAgainIfItExisted`), and
    /// backend fids whose created file the cleanup removes (a rollback).
    var blueCreateAgain: Set<UInt16> = []
    var blueRemoveAtCleanup: Set<UInt32> = []
    /// Directories (by attach) whose stale temporaries this session has looked for.
    var blueSwept: Set<String> = []
    /// The server refused to rename a temporary over a file (9P2000/.u servers that keep rename
    /// to unused names): later commits of the session apply in place without trying.
    var blueRenameRefused = false
    /// No spill file could be made or written (`+BlueSpill`): held bytes stay in memory.
    var blueSpillUnavailable = false
    /// A held Twrite whose data the host is to splice into its spill file (`+BlueSpill`).
    var pendingSplicedHold: SplicedHold?
    /// 9P2000/.u directory fids whose reads left temporaries out, by backend fid: the client's
    /// offset where its next read continues, and the server's.
    var statReadShift: [UInt32: (client: UInt64, server: UInt64)] = [:]
    var blueBytes = 0
    /// Reads and writes going as pieces and reads made ahead, by serial (`+Bridging`), the client
    /// tags they answer, and the read data they keep.
    var splits: [UInt64: SplitRequest] = [:]
    var splitOfClientTag: [UInt16: UInt64] = [:]
    var splitBytes = 0
    /// Sequential reads and the reads made ahead of them, by backend fid (`+ReadAhead`).
    var readAhead: [UInt32: ReadAheadFid] = [:]

    var isClosed: Bool { phase == .closed }
    /// A mid-session Tversion is waiting for outstanding replies and cleanup clunks.
    var isResetting: Bool { if case .resetting = phase { true } else { false } }

    // MARK: Client frames

    /// Handles one client frame whose size was checked against `clientFrameLimit`. `frame` is the
    /// whole frame, or for a Twrite whose data is still arriving its head (at least the fixed
    /// fields), with `payloadToFollow` more bytes to come on the same stream.
    /// Returns whether the frame went to the backend (so the rest of its payload should follow).
    /// A `replayed` frame waited for a Blue commit: it was counted when it came.
    @discardableResult
    func clientFrame(_ frame: UnsafeMutableRawBufferPointer, payloadToFollow: Int = 0, replayed: Bool = false) -> Bool {
        guard let header = FrameHeader.peek(UnsafeRawBufferPointer(frame)) else { return false }
        let frameSize = frame.count &+ payloadToFollow
        if !replayed {
            stats.requests &+= 1
            stats.bytesFromClient &+= frameSize
        }
        // Every request but Tversion and Tflush counts against --rate-ops once decided.
        defer { if pacing != nil, !replayed, header.type != MessageType.Tflush.rawValue, header.type != MessageType.Tversion.rawValue { chargeOperation() } }
        guard let type = header.messageType, type.isRequest else {
            reply(error: .unsupported(header.type), tag: header.tag)
            return false
        }
        if type == .Tversion && payloadToFollow == 0 {
            clientVersion(frame, tag: header.tag)
            return false
        }
        guard phase == .active, let dialect else {
            reply(error: .notNegotiated, tag: header.tag)
            return false
        }
        guard type.info.dialects.contains(dialect) else {
            reply(error: .unsupported(header.type), tag: header.tag)
            return false
        }
        if header.tag == NineP.noTag || tags.isClientTagInUse(header.tag) || blueDeferredTags.contains(header.tag)
            || (!splitOfClientTag.isEmpty && splitUses(clientTag: header.tag)) {
            // Two requests under one tag cannot be told apart in the replies: the client is broken.
            host.closeClient(reason: "tag \(header.tag) reused while in flight (\(type))")
            return false
        }
        let request: DecodedRequest
        do {
            request = try DecodedRequest.decode(UnsafeRawBufferPointer(frame), frameSize: frameSize, type: type, dialect: dialect)
        } catch {
            reply(error: .malformed(error), tag: header.tag)
            return false
        }
        if case let .flush(flush)? = request.message {
            clientFlush(frame, oldTag: flush.oldtag, tag: header.tag)
            return false
        }
        return forward(frame, request: request, tag: header.tag, partial: payloadToFollow > 0)
    }

    /// Asks the policy about the request, then rewrites its fids and tag and sends it on, or holds
    /// it, registered, until the server has room. A `partial` frame (a Twrite's head) is always
    /// sent: the host passes one only when `sendsRequestsNow`.
    func forward(_ frame: UnsafeMutableRawBufferPointer, request decoded: DecodedRequest, tag: UInt16,
                         partial: Bool) -> Bool {
        let type = decoded.type
        let operands: [RequestPolicy.Operand]
        do {
            operands = try type.info.locateFids(in: UnsafeRawBufferPointer(frame)).map { location in
                let clientFid = FramePatch.u32(at: location.offset, in: UnsafeRawBufferPointer(frame))
                let record = fids.lookup(clientFid)
                return RequestPolicy.Operand(location: location, clientFid: clientFid, record: record,
                                             kindChanging: record.map { kindChanging[$0.backendFid] != nil } ?? false)
            }
        } catch {
            reply(error: .malformed(error), tag: tag)
            return false
        }
        var state = RequestPolicy.SessionState(msize: msize, fidCount: fids.count, maxFids: min(limits.maxFids, tokenFidLimit ?? .max))
        if type == .Tattach {
            // Only an attach's token is checked against who the client is, where, and when: the
            // other requests of the hot path build none of it.
            if let current = access.currentVerifier { policy.tokens?.verifier = current() }
            (state.identity, state.peerHost, state.now, state.backendName) = (host.clientIdentity, host.peerHost, access.now(), host.backendName)
        }
        var rewrite: RequestPolicy.Rewrite
        switch policy.decide(decoded, operands: operands, session: state) {
        case let .deny(error):
            refuse(error, tag: tag, subject: operands.first)
            return false
        case let .answer(message):
            sendToClient(message, tag: tag)
            return false
        case let .attach(capability):
            if case let .attach(attach)? = decoded.message { self.attach(as: capability, attach, tag: tag) }
            return false
        case let .delegate(scope):
            if case let .xattrwalk(walk)? = decoded.message { delegate(scope, newfid: walk.newfid, tag: tag) }
            return false
        case let .answerAndForget(message):
            sendToClient(message, tag: tag)
            if let fid = operands.first?.clientFid { fids.forgetValue(clientFid: fid) }
            return false
        case let .denyAndForget(error):
            reply(error: error, tag: tag)
            if let fid = operands.first?.clientFid { fids.forgetValue(clientFid: fid) }
            return false
        case .authByToken:
            if let afid = operands.first?.clientFid {
                fids.addGatewayAuth(clientFid: afid)
                sendToClient(.auth(Rauth(aqid: Qid(type: Qid.auth, version: 0, path: UInt64(afid)))), tag: tag)
            }
            return false
        case .storeToken:
            // A token is a few hundred bytes: one whole frame, never a spliced one.
            guard !partial, let fid = operands.first?.clientFid, let offset = decoded.offset, let count = decoded.count,
                  offset < UInt64(Self.maxTokenBytes), Int(offset) + Int(count) <= Self.maxTokenBytes,
                  frame.count == NineP.twriteHeaderSize + Int(count)
            else {
                reply(error: ProxyError(errno: 22, message: "Invalid argument", detail: "not a token (too long)"), tag: tag)
                return false
            }
            fids.storeValue(clientFid: fid, UnsafeRawBufferPointer(rebasing: frame[NineP.twriteHeaderSize...]), at: Int(offset))
            sendToClient(.write(Rwrite(count: count)), tag: tag)
            return false
        case let .forward(edits):
            rewrite = edits
        }

        var blueReply: BlueReply?
        var redirect: UInt32?
        if !blue.isEmpty, let subject = operands.first?.record {
            if blue[subject.backendFid] != nil {
                switch blueRequest(frame, decoded: decoded, readCount: rewrite.count ?? decoded.count, tag: tag,
                                    backendFid: subject.backendFid, partial: partial) {
                case .handled: return false
                case let .forward(amend, answerInstead):
                    blueReply = amend
                    if let answerInstead { rewrite.answerInstead = answerInstead }
                case let .redirect(backendFid):
                    redirect = backendFid
                }
            } else if type == .Tsetattr || type == .Twstat, let holder = blueHolder(ofSizeChange: UnsafeRawBufferPointer(frame), subject: subject) {
                deferBlue(frame, tag: tag, backendFid: holder)
                commitHeld(holder)
                return false
            }
        }

        // A sequential read may be answered by a read made ahead (`+ReadAhead`); more are made
        // once this one is on its way.
        var readsAheadAfter: UInt32?
        defer { if let readsAheadAfter { readAheadMore(readsAheadAfter) } }
        if type == .Tread, access.readAhead != nil, !partial, redirect == nil, blueReply == nil,
           let subject = operands.first?.record, blue[subject.backendFid] == nil, let offset = decoded.offset, let count = rewrite.count ?? decoded.count {
            readsAheadAfter = subject.backendFid
            if readAheadTread(tag: tag, backendFid: subject.backendFid, subject: subject, offset: offset, count: count) { return false }
        }

        // What the server's msize cannot carry is split, cut or refused (`+Bridging`).
        var frame = frame
        var split: SplitTransfer<PieceFailure>?
        switch bridgePlan(decoded, frameSize: partial ? NineP.twriteHeaderSize &+ Int(decoded.count ?? 0) : frame.count,
                          partial: partial, subject: operands.first?.record, count: rewrite.count, amended: blueReply != nil) {
        case .asIs: break
        case let .cap(count) where type == .Twrite: frame = Self.capWrite(frame, to: count)
        case let .cap(count): rewrite.count = count
        case let .split(transfer): split = transfer
        case let .refuse(error):
            refuse(error, tag: tag, subject: operands.first)
            return false
        }

        // A Twrite's head stands for the whole frame its count makes; a read's reply may bring its
        // count, reserved when it goes to the server (a held request's when it leaves the queue).
        let frameSize = partial ? NineP.twriteHeaderSize &+ Int(decoded.count ?? 0) : frame.count
        let replyBytes = type == .Twrite ? 0 : decoded.count.map { Int(rewrite.count ?? $0) &+ NineP.rreadHeaderSize } ?? 0
        let goesNow = partial || (held.isEmpty && canSendNow)
        let createsFid = clientTotals.fids != nil && Self.createsFid(operands)
        if let error = admitToTotals(createsFid: createsFid, type: type) ?? admitBytes(frameSize &+ (goesNow ? replyBytes : 0), type: type) {
            settleTotals()
            refuse(error, tag: tag, subject: operands.first)
            return false
        }

        // Commit: from here on the request happens.
        let changesFile = access.readAhead != nil && Self.changesFile(decoded)
        if changesFile { access.fileGenerations.bump(operands.first?.record?.qidPath) }
        if access.readAhead != nil, type == .Tclunk || type == .Tremove, let subject = operands.first?.record {
            forgetReadAhead(subject.backendFid)
        }
        if !statReadShift.isEmpty, type == .Tclunk || type == .Tremove, let subject = operands.first?.record {
            statReadShift[subject.backendFid] = nil
        }
        if let split, let subject = operands.first?.record {
            let serial = startSplit(split, frame: UnsafeRawBufferPointer(frame), clientTag: tag, backendFid: redirect ?? subject.backendFid)
            if changesFile { splits[serial]?.changesFile = subject.qidPath }
            return false
        }
        var request = PendingRequest(origin: .client(tag: tag), type: rewrite.sendAs ?? type, serial: tags.makeSerial())
        request.reservedBytes = frameSize
        request.answerInstead = rewrite.answerInstead
        request.blueReply = blueReply
        request.changesFile = changesFile
        request.changedQidPath = operands.first?.record?.qidPath
        request.walk = rewrite.walk
        if let subject = operands.first?.record {
            request.scope = subject.scope
            request.subjectQidType = subject.qidType
        }
        if Self.changesFidInPlace.contains(type) { markBlueOpen(&request, decoded: decoded, frame: frame) }
        if type == .Treaddir { request.readdirClientFid = operands.first?.clientFid }
        if let sendAs = rewrite.sendAs { frame.storeBytes(of: sendAs.rawValue, toByteOffset: 4, as: UInt8.self) }
        var rewrites: [(offset: Int, backendFid: UInt32)] = []
        var created: (clientFid: UInt32, offset: Int)?
        var existingValues: [(client: UInt32, backend: UInt32)] = []
        for operand in operands {
            switch operand.location.role {
            case .existing, .existingOrNone, .released:
                guard let record = operand.record else { continue }  // Tattach's afid NOFID
                if operand.isSubject {
                    request.readsStats = type == .Tread && record.readsStats
                    if request.readsStats, let offset = decoded.offset {
                        request.statRead = statReadStarts(frame, backendFid: record.backendFid, clientFid: operand.clientFid, offset: offset)
                    }
                }
                let backendFid = (operand.isSubject ? redirect : nil) ?? record.backendFid
                rewrites.append((operand.location.offset, backendFid))
                existingValues.append((operand.clientFid, backendFid))
                if operand.location.role == .released {
                    request.releasedClientFid = operand.clientFid
                    request.releasedBackendFid = record.backendFid
                }
            case .created:
                if let same = existingValues.first(where: { $0.client == operand.clientFid }) {
                    // Twalk with newfid == fid: the backend fid is replaced in place.
                    rewrites.append((operand.location.offset, same.backend))
                    request.changedFid = same
                    continue
                }
                created = (operand.clientFid, operand.location.offset)
            }
        }
        if case let .walk(walk)? = decoded.message { request.walkNames = rewrite.walk?.backendNames.count ?? walk.wnames.count }
        let changesInPlace = Self.changesFidInPlace.contains(type)
        if changesInPlace { request.changedFid = existingValues.first }
        if case let .xattrcreate(create)? = decoded.message { request.xattrSize = create.attrSize }
        if case let .create(create)? = decoded.message { request.createdName = create.name }
        if case let .lcreate(create)? = decoded.message { request.createdName = create.name }
        if let asked = decoded.count {
            let count = rewrite.count ?? asked
            if count != asked { FramePatch.setU32(count, at: NineP.ioCountOffset, in: frame) }
            request.countLimit = count
            if type != .Twrite { request.replyBytes = Int(count) &+ NineP.rreadHeaderSize }
        }

        if let created {
            let backendFid = fids.reserve(created.clientFid)
            request.createdClientFid = created.clientFid
            request.createdBackendFid = backendFid
            rewrites.append((created.offset, backendFid))
        }
        if let released = request.releasedClientFid { fids.setState(released, .releasing) }
        for rewrite in rewrites {
            FramePatch.setU32(rewrite.backendFid, at: rewrite.offset, in: frame)
        }
        request.usedBackendFids = existingValues.map(\.backend)
        let waitsForFid = request.releasedBackendFid.map { fids.useCount($0) > 0 } ?? false
        request.sent = !waitsForFid && (partial || (held.isEmpty && canSendNow))
        guard let backendTag = tags.add(request) else {
            // Every tag in use (at the server and held): refused, and nothing is left reserved.
            undo(request)
            reply(error: .tooManyRequests, tag: tag)
            return false
        }
        fids.beginUse(request.usedBackendFids)
        if changesInPlace, let changed = request.changedFid { kindChanging[changed.backend, default: 0] += 1 }
        FramePatch.setTag(backendTag, in: frame)
        if let plan = request.walk, plan.rewritesNames, let subject = existingValues.first {
            // Each `..` at the root is answered by the gateway: the server gets the other names.
            let walk = Twalk(fid: subject.backend, newfid: request.createdBackendFid ?? subject.backend, wnames: plan.backendNames)
            let bytes = Frame(tag: backendTag, message: TMessage.walk(walk)).encode(dialect: dialect ?? .linux)
            return bytes.withUnsafeBytes { dispatch($0, request: request, backendTag: backendTag, waitsForFid: waitsForFid) }
        }
        return dispatch(UnsafeRawBufferPointer(frame), request: request, backendTag: backendTag, waitsForFid: waitsForFid)
    }

    /// Sends a registered request, or holds it: behind the requests still using the fid it
    /// releases, or until the server has room.
    func dispatch(_ frame: UnsafeRawBufferPointer, request: PendingRequest, backendTag: UInt16, waitsForFid: Bool) -> Bool {
        if waitsForFid, let backendFid = request.releasedBackendFid {
            releasesWaiting[backendFid] = (backendTag, Array(frame))
            return false
        }
        guard request.sent else {
            stats.held &+= 1
            held.append(tag: backendTag, frame: frame)
            wakeWhenPaced()
            return false
        }
        sending(backendTag)
        host.sendToBackend(frame)
        return true
    }

    /// Whether the reply to this backend tag must reach the gateway whole, its data checked, rather
    /// than be spliced past it: a 9P2000/.u directory read's stats, a reply to the gateway's own request.
    func repliesWhole(backendTag: UInt16) -> Bool {
        guard let request = tags.request(backendTag) else { return false }
        return request.readsStats || request.origin == .own || request.blueReply != nil
    }

    /// Small enough for any real client, large enough for a Twalk of 16 names to be pointless to cap.
    static let minimumMsize: UInt32 = 256

    // MARK: Backend frames

    /// Handles one backend frame whose size was checked against `backendFrameLimit`: the whole
    /// frame, or for an Rread whose data is still arriving its head, with `payloadToFollow` more
    /// bytes to come. Returns whether the frame went to the client (so the rest should follow).
    @discardableResult
    func backendFrame(_ frame: UnsafeMutableRawBufferPointer, payloadToFollow: Int = 0) -> Bool {
        guard let header = FrameHeader.peek(UnsafeRawBufferPointer(frame)) else { return false }
        guard let request = tags.completeReply(header.tag) else {
            host.closeClient(reason: "file server answered unknown tag \(header.tag)")
            return false
        }
        if case .client = request.origin, let sentAt = request.sentAt {
            host.serverAnswered(request.type, after: access.monotonicNow() - sentAt,
                                failed: header.type == MessageType.Rlerror.rawValue || header.type == MessageType.Rerror.rawValue)
        }
        if let plan = request.walk, payloadToFollow == 0 {
            let delivered = scopedWalkReply(frame, header: header, request: request, plan: plan)
            advanceCleanup()
            return delivered
        }
        let outcome = ReplyOutcome(of: UnsafeRawBufferPointer(frame), header: header, answering: request,
                                   dialect: dialect, payloadToFollow: payloadToFollow)
        let (isError, wellTyped, succeeded) = (outcome.isError, outcome.wellTyped, outcome.succeeded)
        settle(request, succeeded: succeeded, known: wellTyped, xattrSize: outcome.xattrSize,
               openedDirectory: outcome.openedDirectory, qid: outcome.qid)
        ended(request)
        if request.changesFile { access.fileGenerations.bump(request.changedQidPath) }
        if request.type == .Tflush, succeeded, let target = request.flushTarget,
           let flushed = tags.request(target.tag), flushed.serial == target.serial {
            // The server answered the flush without answering the request: it never happened.
            _ = tags.complete(target.tag)
            undo(flushed)
            ended(flushed)
            // A piece of a split request (`+Bridging`) hears it as of no reply.
            if flushed.origin == .own { ownReplies.removeValue(forKey: target.tag)?.fail() }
        }
        var delivered = false
        if payloadToFollow > 0 && header.type != MessageType.Rread.rawValue {
            // Only an Rread's data is passed on unread; anything else must be seen whole.
            if case let .client(clientTag) = request.origin, !request.abandoned {
                reply(error: .badBackendReply, tag: clientTag)
            }
        } else if request.type == .Tversion {
            backendVersion(frame, header: header, wellTyped: wellTyped && !isError)
        } else if request.origin == .own, let waiting = ownReplies.removeValue(forKey: header.tag) {
            switch waiting {
            case let .decoded(continuation):
                continuation(wellTyped ? try? Frame<RMessage>.decode(UnsafeRawBufferPointer(frame), dialect: dialect ?? .linux).message : nil)
            case let .frame(continuation):
                continuation(wellTyped ? UnsafeRawBufferPointer(frame) : nil)
            }
        } else if case let .client(clientTag) = request.origin, !request.abandoned {
            if succeeded { widenIounit(frame, header: header) }
            if let error = request.answerInstead {
                reply(error: error, tag: clientTag)
            } else if request.blueOpen?.asSent != nil, createAgainIfItExisted(request, header: header, frame: UnsafeRawBufferPointer(frame)) {
                // Sent again as the client sent it; this reply is not the client's.
            } else if request.blueReply != nil, payloadToFollow == 0, var amended = amendBlueReply(frame, header: header, request: request) {
                amended.withUnsafeMutableBytes { FramePatch.setTag(clientTag, in: $0) }
                stats.replies &+= 1
                sendToClient(amended)
            } else if request.type == .Treaddir || request.statRead != nil,
                      case let hidden = request.type == .Treaddir
                        ? hidingTemporaries(UnsafeRawBufferPointer(frame), header: header, request: request, clientTag: clientTag)
                        : hidingStatTemporaries(UnsafeRawBufferPointer(frame), header: header, request: request, clientTag: clientTag),
                      hidden.reread || hidden.frame != nil {
                if let amended = hidden.frame {
                    stats.replies &+= 1
                    sendToClient(amended)
                }
            } else {
                let countFits = isError || ReplyOutcome.countFits(UnsafeRawBufferPointer(frame), header: header,
                                                                  limit: request.countLimit, payloadToFollow: payloadToFollow)
                delivered = deliver(frame, header: header, clientTag: clientTag, wellTyped: wellTyped && countFits,
                                    payloadToFollow: payloadToFollow)
            }
        }
        if request.type == .Tflush { flushAnswered(header.tag, target: request.flushTarget) }
        advanceCleanup()
        return delivered
    }
}
