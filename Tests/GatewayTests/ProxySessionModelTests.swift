import Testing
import TestSupport
@testable import Gateway
import NineP
import Pebble

/// A seeded, randomized state-machine test of `ProxySession` (9P2000.L). The test plays a client
/// that keeps its own view of its fids and tags, and a file server that keeps its own model of
/// which backend fids exist, and drives both with a random mix of requests, answers and flushes.
/// Every step the session's fid table is compared with both models; every reply the session
/// delivers is compared with the one the model expects, so a lost, extra or misrouted reply fails
/// at the step that caused it. A failure names its seed and step and the last actions before it.
///
/// Invariants, after every step:
/// 1. Every client request gets at most one reply, an R-message of its type or Rlerror under its
///    tag, and at a quiescent point exactly one, except (per 9P, so the plain "exactly one" is
///    adjusted) a request whose Tflush was answered first (flush(5): it never happened and gets no
///    reply) and a request in flight when the client sent Tversion or went away (version(5):
///    outstanding I/O is aborted). A Tflush's Rflush comes after the flushed request's reply when
///    that reply comes at all: the server model answers a target before its flush or never.
/// 2. `session.fids.liveBackendFids` equals the server's fid set. Checked at quiescent points as
///    asked, and also after every step, since both change at the same reply.
/// 3. Every client fid in the session stands for a distinct backend fid: one that exists at the
///    server if the fid is ready or being released, one that does not yet if it is being created;
///    and the client's own view of its fids agrees with the session's, fid for fid.
/// 4. A request naming a fid the client does not hold is answered by the gateway (Rlerror EBADF;
///    EBUSY for a fid being created or released) and nothing reaches the server; a forwarded
///    request carries exactly the backend fids of the client fids it names.
/// 5. A request accepted while the server already has max-inflight requests is held: no reply,
///    nothing at the server, its fids reserved or marked at once as if sent; held requests reach
///    the server in order and exactly as accepted, and only while the server is full do any wait;
///    a held request that is flushed is answered Rflush at once and never happens. (The second
///    test runs with max-inflight 1 to reach these paths.)
/// The server model also checks every frame it gets: it never names a fid that does not exist,
/// nor one whose Tclunk/Tremove is outstanding, nor creates one that exists or is being created,
/// nor reuses a fid number that an outstanding request still names (see `receive` and `reply`
/// for what racing requests may do).
@Suite("ProxySession model")
struct ProxySessionModelTests {
    static let seeds: [UInt64] = Array(1...20)
    static let steps = 400

    @Test("random client requests, server answers and flushes keep the session, the client and the server in agreement",
          arguments: seeds)
    func randomized(seed: UInt64) throws {
        try check(ModelRun(seed: seed))
    }

    @Test("the same with one request at a time at the server, so many are held and some flushed while held",
          arguments: seeds)
    func randomizedWithHeldRequests(seed: UInt64) throws {
        try check(ModelRun(seed: seed, limits: .init(maxInFlight: 1)))
    }

    private func check(_ run: ModelRun) throws {
        let seed = run.seed
        try run.start()
        run.run(steps: Self.steps)
        run.finish()
        guard !run.failed else { return }
        // The mix must really have reached the interesting paths, or the test proves little.
        #expect(run.coverage.forwarded > 50, "seed \(seed): \(run.coverage)")
        #expect(run.coverage.answeredLocally > 20, "seed \(seed): \(run.coverage)")
        #expect(run.coverage.flushesForwarded > 0, "seed \(seed): \(run.coverage)")
        #expect(run.coverage.quiescentChecks > 0, "seed \(seed): \(run.coverage)")
        #expect(run.coverage.releasesWaited > 0, "seed \(seed): \(run.coverage)")
        if run.harness.session.limits.maxInFlight == 1 {
            #expect(run.coverage.heldSent > 10, "seed \(seed): \(run.coverage)")
        }
    }
}

/// Draws the model test needs on top of the shared generator.
extension SplitMix64 {
    mutating func chance(percent: Int) -> Bool { below(100) < percent }

    mutating func pick<T>(_ values: [T]) -> T? { values.isEmpty ? nil : values[below(values.count)] }
}

/// What a request does to the fids it names, from the model's point of view (9P semantics; only
/// the requests this test sends).
private struct ModelRoles {
    /// Must exist when the request arrives.
    var existing: [UInt32] = []
    /// Must exist when it arrives; gone after the reply, whatever the reply says.
    var released: UInt32?
    /// Must not exist when it arrives; exists after a successful reply.
    var created: UInt32?
}

private extension TMessage {
    var modelRoles: ModelRoles {
        switch self {
        case let .attach(message):
            ModelRoles(existing: message.afid == NineP.noFid ? [] : [message.afid], created: message.fid)
        case let .walk(message):
            ModelRoles(existing: [message.fid], created: message.newfid == message.fid ? nil : message.newfid)
        case let .clunk(message): ModelRoles(released: message.fid)
        case let .remove(message): ModelRoles(released: message.fid)
        case let .getattr(message): ModelRoles(existing: [message.fid])
        case let .lopen(message): ModelRoles(existing: [message.fid])
        case let .read(message): ModelRoles(existing: [message.fid])
        default: ModelRoles()
        }
    }

    var isFlush: Bool { if case .flush = self { true } else { false } }
    var isVersion: Bool { if case .version = self { true } else { false } }
}

/// One seed's run: the session under test, the model client and the model server.
private final class ModelRun {
    let seed: UInt64
    var rng: SplitMix64
    let harness: SessionHarness
    var session: ProxySession { harness.session }
    var step = 0
    private(set) var failed = false
    private var trail: [String] = []

    static let msize: UInt32 = 8192
    /// Client tags are drawn from a small range so that they are reused often.
    static let tagRange: UInt16 = 16
    /// Client fids are drawn from a small range so that collisions (held newfid, reuse) are common.
    static let fidRange: UInt32 = 10

    struct Coverage: CustomStringConvertible {
        var forwarded = 0
        var answeredLocally = 0
        var flushesForwarded = 0
        var flushTargetsDropped = 0
        var flushTargetsAnsweredFirst = 0
        var staleAnswers = 0
        var partialWalks = 0
        var resets = 0
        var quiescentChecks = 0
        var duplicateTagClose = false
        var held = 0
        var heldSent = 0
        var heldFlushed = 0
        var releasesWaited = 0
        var releasesWaitedSent = 0
        var flushesWaiting = 0

        var description: String {
            "forwarded \(forwarded), local \(answeredLocally), flushes \(flushesForwarded) "
                + "(dropped \(flushTargetsDropped), answered first \(flushTargetsAnsweredFirst)), stale \(staleAnswers), "
                + "partial walks \(partialWalks), resets \(resets), quiescent checks \(quiescentChecks), "
                + "duplicate-tag close \(duplicateTagClose), held \(held) (sent \(heldSent), flushed \(heldFlushed)), flushes waiting \(flushesWaiting), releases waiting for their fid \(releasesWaited) (sent when free \(releasesWaitedSent))"
        }
    }

    var coverage = Coverage()

    // MARK: The client's model

    enum ClientFidState: Equatable, CustomStringConvertible {
        case ready, creating, releasing

        var description: String {
            switch self {
            case .ready: "ready"
            case .creating: "creating"
            case .releasing: "releasing"
            }
        }
    }

    struct ClientRequest {
        let id: Int
        let tag: UInt16
        let message: TMessage
        /// The backend tag it was forwarded under.
        var backendTag: UInt16
        /// For a Tflush: the id of the request it names, which was in flight when it was sent.
        var flushTarget: Int?
        /// Set while the gateway holds it: what the server must get when it is sent.
        var heldAs: TMessage?
        /// For a Tflush the gateway keeps back: the id of the Tflush at the server it waits on.
        var waitsOn: Int?
        /// For a Tclunk/Tremove the gateway keeps back until no other request in flight names its
        /// fid (then it is sent, or held behind the rest): `heldAs` says what the server must get.
        var waitsForFid = false
    }

    /// The client's fids as the client sees them (the gateway's table must agree, state for state).
    var held: [UInt32: ClientFidState] = [:]
    /// The backend fid each client fid was forwarded as, learned from the frames the backend saw.
    var backendFidOf: [UInt32: UInt32] = [:]
    /// Forwarded requests still waiting for their reply (or their flush), by client tag.
    var inFlight: [UInt16: ClientRequest] = [:]
    /// A mid-session Tversion waiting for its Rversion.
    var version: (id: Int, tag: UInt16)?
    var nextRequestID = 0
    /// Replies received per request id: never more than one.
    var repliesReceived: [Int: Int] = [:]
    /// Requests whose Tflush was answered before they were: they never get a reply.
    var flushedAway: Set<Int> = []
    /// Requests in flight when the client sent Tversion or went away: they never get a reply.
    var abandoned: Set<Int> = []
    /// Client tags of the requests the gateway holds, in the order they must reach the server.
    var heldOrder: [UInt16] = []
    /// Client tags of the Tflushes waiting on a Tflush at the server (by its id), in order.
    var flushWaiters: [Int: [UInt16]] = [:]
    /// The client's requests at the server that count against max-inflight (Tflush does not).
    var requestsAtServer: Int { inFlight.values.filter { $0.heldAs == nil && !$0.message.isFlush }.count }

    // MARK: The server's model

    struct ServerRequest {
        let tag: UInt16
        let message: TMessage
        /// The incarnation of every existing fid it named, as it arrived.
        let incarnations: [UInt32: UInt64]
    }

    /// Backend fids that exist, each with the incarnation that tells a fid from a later one that
    /// reuses its number.
    var serverFids: [UInt32: UInt64] = [:]
    var nextIncarnation: UInt64 = 1
    /// Requests received and not answered, in arrival order.
    var outstanding: [ServerRequest] = []

    init(seed: UInt64, limits: ProxySession.Limits = .init()) {
        harness = SessionHarness(limits: limits)
        self.seed = seed
        rng = SplitMix64(seed: seed)
    }

    // MARK: Reporting

    func fail(_ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard !failed else { return }
        failed = true
        let recent = trail.suffix(30).joined(separator: "\n")
        Issue.record(Comment(rawValue: "seed \(seed), step \(step): \(message)\nlast actions:\n\(recent)"),
                     sourceLocation: sourceLocation)
    }

    func note(_ line: String) {
        trail.append("[\(step)] \(line)")
        if trail.count > 400 { trail.removeFirst(200) }
    }

    // MARK: The run

    /// Negotiates 9P2000.L (as the harness does) and attaches fid 0, through the models.
    func start() throws {
        try harness.negotiate(.linux, msize: Self.msize)
        clientSends(.attach(Tattach(fid: 0, afid: NineP.noFid, uname: "glenda", aname: "", nUname: 1000)), tag: 0)
        guard let attach = outstanding.first else { return fail("the first Tattach did not reach the server") }
        answer(attach, forceSuccess: true)
        try #require(held[0] == .ready, "seed \(seed): the first attach failed")
        checkInvariants()
    }

    func run(steps: Int) {
        for index in 0..<steps where !failed {
            step = index
            let roll = rng.below(100)
            if roll < 3 {
                quiesce()
            } else if roll < 55 || outstanding.isEmpty {
                clientAction()
            } else {
                serverAction()
            }
            checkInvariants()
        }
    }

    /// The server answers everything (including what the answers cause), then both models and the
    /// session must agree exactly.
    func quiesce() {
        note("quiesce")
        while !outstanding.isEmpty && !failed { serverAction() }
        guard !failed else { return }
        coverage.quiescentChecks += 1
        if session.fids.liveBackendFids != Set(serverFids.keys) {
            fail("quiescent: the session's live backend fids \(session.fids.liveBackendFids.sorted()) "
                 + "are not the server's \(serverFids.keys.sorted())")
        }
        if !inFlight.isEmpty { fail("quiescent, yet the client still waits for tags \(inFlight.keys.sorted())") }
        if version != nil { fail("quiescent, yet the client still waits for its Rversion") }
        if session.tags.outstanding != 0 { fail("quiescent, yet the session has \(session.tags.outstanding) requests outstanding") }
        if session.phase != .active { fail("quiescent in phase \(session.phase)") }
        checkEveryRequestAnswered()
    }

    /// Invariant 1: every request got exactly one reply, or none because it was flushed or abandoned.
    func checkEveryRequestAnswered() {
        for id in 0..<nextRequestID {
            let count = repliesReceived[id, default: 0]
            if count > 1 { return fail("request \(id) got \(count) replies") }
            if count == 0 && !flushedAway.contains(id) && !abandoned.contains(id) && !inFlight.values.contains(where: { $0.id == id })
                && version?.id != id {
                return fail("request \(id) never got a reply")
            }
            if count == 1 && flushedAway.contains(id) { return fail("request \(id) was flushed away and also answered") }
        }
    }

    // MARK: Client actions

    func clientAction() {
        guard session.acceptsClientFrames else { return serverAction() }
        guard let tag = freeTag() else { return serverAction() }
        let roll = rng.below(100)
        if held.isEmpty && roll < 80 {
            return clientSends(.attach(Tattach(fid: anyFid(), afid: NineP.noFid, uname: "glenda", aname: "", nUname: 1000)), tag: tag)
        }
        switch roll {
        case 0..<4:
            clientSends(.attach(Tattach(fid: anyFid(), afid: NineP.noFid, uname: "glenda", aname: "", nUname: 1000)), tag: tag)
        case 4..<32:
            let fid = someFid()
            let newfid: UInt32
            switch rng.below(100) {
            case 0..<25: newfid = fid
            case 25..<45: newfid = rng.pick(held.keys.sorted()) ?? fid
            case 45..<48: newfid = NineP.noFid
            default: newfid = anyFid()
            }
            let names: [WireString] = ([[], ["a"], ["a", "b"]] as [[WireString]])[rng.below(3)]
            clientSends(.walk(Twalk(fid: fid, newfid: newfid, wnames: names)), tag: tag)
        case 32..<43:
            clientSends(.clunk(Tclunk(fid: someFid())), tag: tag)
        case 43..<48:
            clientSends(.remove(Tremove(fid: someFid())), tag: tag)
        case 48..<60:
            clientSends(.getattr(Tgetattr(fid: someFid(), requestMask: 0x7FF)), tag: tag)
        case 60..<66:
            clientSends(.lopen(Tlopen(fid: someFid(), flags: 0)), tag: tag)
        case 66..<72:
            clientSends(.read(Tread(fid: someFid(), offset: 0, count: 64)), tag: tag)
        case 72..<88:
            // Mostly a tag in flight; sometimes one that is finished (answered at once).
            let oldtag = rng.chance(percent: 75) ? (rng.pick(inFlight.keys.sorted()) ?? tag) : UInt16(rng.below(Int(Self.tagRange)))
            clientSends(.flush(Tflush(oldtag: oldtag)), tag: tag)
        case 88..<97:
            clientSendsMalformed(tag: tag)
        default:
            clientSendsVersion(tag: rng.chance(percent: 70) ? NineP.noTag : tag)
        }
    }

    /// A tag the client may use: not in flight, and not the oldtag of a Tflush in flight (flush(5):
    /// the client waits for the Rflush before reusing oldtag).
    func freeTag() -> UInt16? {
        let flushed = Set(inFlight.values.compactMap { $0.message.flushOldtag })
        let free = (0..<Self.tagRange).filter { inFlight[$0] == nil && !flushed.contains($0) }
        return rng.pick(free)
    }

    /// Mostly a fid the client holds (in any state); sometimes any small number; sometimes one it never had.
    func someFid() -> UInt32 {
        switch rng.below(100) {
        case 0..<75: rng.pick(held.keys.sorted()) ?? anyFid()
        case 75..<92: anyFid()
        default: 1000 + UInt32(rng.below(5))
        }
    }

    func anyFid() -> UInt32 { UInt32(rng.below(Int(Self.fidRange))) }

    /// The error the gateway must answer `message` with itself, by the client's own view of its
    /// fids (invariant 4): unknown → EBADF, busy (being created or released) → EBUSY, a newfid
    /// already held → EBADF. Fids are checked in wire order, as the gateway does.
    func expectedLocalError(_ message: TMessage) -> UInt32? {
        let (ebadf, ebusy): (UInt32, UInt32) = (9, 16)   // pinned, not taken from ProxyError
        func existing(_ fid: UInt32) -> UInt32? {
            guard let state = held[fid] else { return ebadf }
            return state == .ready ? nil : ebusy
        }
        /// While a Tlopen of the fid is in flight, what would be refused for some kind of fid waits.
        func notOpening(_ fid: UInt32) -> UInt32? {
            let opening = inFlight.values.contains { if case let .lopen(lopen) = $0.message { lopen.fid == fid } else { false } }
            return opening ? ebusy : nil
        }
        func created(_ fid: UInt32) -> UInt32? {
            fid == NineP.noFid || held[fid] != nil ? ebadf : nil
        }
        switch message {
        case let .attach(attach): return created(attach.fid)
        case let .walk(walk):
            if let error = existing(walk.fid) ?? notOpening(walk.fid) { return error }
            return walk.newfid == walk.fid ? nil : created(walk.newfid)
        case let .clunk(clunk): return existing(clunk.fid)
        case let .remove(remove): return existing(remove.fid)
        case let .getattr(getattr): return existing(getattr.fid)
        case let .lopen(lopen): return existing(lopen.fid) ?? notOpening(lopen.fid)
        case let .read(read): return existing(read.fid)
        default: return nil
        }
    }

    /// `message` as the server must see it: every fid the client holds replaced by its backend fid,
    /// a created fid by `newBackendFid`.
    func rewritten(_ message: TMessage, newBackendFid: UInt32?) -> TMessage? {
        func map(_ fid: UInt32) -> UInt32? { backendFidOf[fid] }
        switch message {
        case var .attach(attach):
            guard let newBackendFid else { return nil }
            attach.fid = newBackendFid
            return .attach(attach)
        case var .walk(walk):
            guard let backend = map(walk.fid) else { return nil }
            if walk.newfid == walk.fid {
                walk.newfid = backend
            } else {
                guard let newBackendFid else { return nil }
                walk.newfid = newBackendFid
            }
            walk.fid = backend
            return .walk(walk)
        case var .clunk(clunk):
            guard let backend = map(clunk.fid) else { return nil }
            clunk.fid = backend
            return .clunk(clunk)
        case var .remove(remove):
            guard let backend = map(remove.fid) else { return nil }
            remove.fid = backend
            return .remove(remove)
        case var .getattr(getattr):
            guard let backend = map(getattr.fid) else { return nil }
            getattr.fid = backend
            return .getattr(getattr)
        case var .lopen(lopen):
            guard let backend = map(lopen.fid) else { return nil }
            lopen.fid = backend
            return .lopen(lopen)
        case var .read(read):
            guard let backend = map(read.fid) else { return nil }
            read.fid = backend
            return .read(read)
        default:
            return nil
        }
    }

    func clientSends(_ message: TMessage, tag: UInt16) {
        let id = nextRequestID
        nextRequestID += 1
        note("client #\(id) tag \(tag): \(message)")
        harness.clientSends(tag: tag, message)
        let atServer = serverReceives(batchIsGateways: false)
        let replies = clientReceives()
        guard !failed else { return }

        if case let .flush(flush) = message {
            if let target = inFlight[flush.oldtag], target.heldAs != nil || target.waitsOn != nil {
                // Held or waiting, so never sent: the gateway drops it and answers at once; it never happens.
                coverage.answeredLocally += 1
                coverage.heldFlushed += 1
                if !atServer.isEmpty { return fail("Tflush of held tag \(flush.oldtag) reached the server: \(atServer)") }
                if replies != [Frame(tag: tag, message: .flush(Rflush()))] {
                    return fail("Tflush of held tag \(flush.oldtag): expected Rflush at once, got \(replies)")
                }
                repliesReceived[id] = 1
                inFlight[target.tag] = nil
                heldOrder.removeAll { $0 == target.tag }
                if let waitsOn = target.waitsOn { flushWaiters[waitsOn]?.removeAll { $0 == target.tag } }
                flushedAway.insert(target.id)
                let roles = target.message.modelRoles
                if let created = roles.created { forget(created) }
                if let released = roles.released { held[released] = .ready }
                heldFreedReleases()
                return
            }
            guard let target = inFlight[flush.oldtag] else {
                // Not in flight: the gateway answers at once.
                coverage.answeredLocally += 1
                if !atServer.isEmpty { return fail("Tflush of finished tag \(flush.oldtag) reached the server: \(atServer)") }
                if replies != [Frame(tag: tag, message: .flush(Rflush()))] {
                    return fail("Tflush of finished tag \(flush.oldtag): expected Rflush at once, got \(replies)")
                }
                repliesReceived[id] = 1
                return
            }
            // One client flush per request at the server: a Tflush of a Tflush there, or a second
            // one for the same request, waits for that flush and is answered right after it.
            let earlier = inFlight.values.first { $0.message.isFlush && $0.waitsOn == nil && $0.flushTarget == target.id }
            if let waitOn = target.message.isFlush ? target : earlier {
                guard replies.isEmpty, atServer.isEmpty, let backendTag = session.tags.backendTag(forClientTag: tag) else {
                    return fail("Tflush of tag \(flush.oldtag) should wait on the flush at the server (tag \(waitOn.tag)); got \(atServer) / \(replies)")
                }
                coverage.flushesWaiting += 1
                inFlight[tag] = ClientRequest(id: id, tag: tag, message: message, backendTag: backendTag, flushTarget: target.id, waitsOn: waitOn.id)
                flushWaiters[waitOn.id, default: []].append(tag)
                return
            }
            guard replies.isEmpty, atServer.count == 1 else {
                return fail("Tflush of tag \(flush.oldtag) in flight: expected one frame at the server and no reply, got \(atServer) / \(replies)")
            }
            if atServer[0].message != .flush(Tflush(oldtag: target.backendTag)) {
                return fail("Tflush of tag \(flush.oldtag) reached the server as \(atServer[0]), not naming backend tag \(target.backendTag)")
            }
            coverage.forwarded += 1
            coverage.flushesForwarded += 1
            inFlight[tag] = ClientRequest(id: id, tag: tag, message: message, backendTag: atServer[0].tag, flushTarget: target.id)
            return
        }

        if let errno = expectedLocalError(message) {
            coverage.answeredLocally += 1
            if !atServer.isEmpty { return fail("\(message) should have been refused (errno \(errno)) but reached the server: \(atServer)") }
            if replies != [Frame(tag: tag, message: .lerror(Rlerror(ecode: errno)))] {
                return fail("\(message): expected Rlerror \(errno) from the gateway, got \(replies)")
            }
            repliesReceived[id] = 1
            return
        }

        if replies.isEmpty && atServer.isEmpty {
            return clientSees(message, heldUnder: tag, id: id)
        }
        guard replies.isEmpty, atServer.count == 1 else {
            return fail("\(message) should have been forwarded alone; server got \(atServer), client got \(replies)")
        }
        let frame = atServer[0]
        let roles = message.modelRoles
        var newBackendFid: UInt32?
        if roles.created != nil {
            newBackendFid = frame.message.modelRoles.created
            guard let newBackendFid, newBackendFid != NineP.noFid else {
                return fail("\(message) reached the server as \(frame) without a new backend fid")
            }
            if let owner = backendFidOf.first(where: { $0.value == newBackendFid }) {
                return fail("\(message) got backend fid \(newBackendFid), which client fid \(owner.key) already stands for")
            }
        }
        guard let expected = rewritten(message, newBackendFid: newBackendFid), frame.message == expected else {
            return fail("\(message) reached the server as \(frame.message); fids held map to \(backendFidOf)")
        }
        coverage.forwarded += 1
        claimFids(roles, newBackendFid: newBackendFid)
        inFlight[tag] = ClientRequest(id: id, tag: tag, message: message, backendTag: frame.tag)
    }

    /// The client's view of a request the gateway took: its new fid is being created (as
    /// `newBackendFid`), the fid it releases is being released.
    fileprivate func claimFids(_ roles: ModelRoles, newBackendFid: UInt32?) {
        if let created = roles.created, let newBackendFid {
            held[created] = .creating
            backendFidOf[created] = newBackendFid
        }
        if let released = roles.released { held[released] = .releasing }
    }

    /// A request the gateway accepted and holds: it has its backend tag and fids already (the
    /// session's tables say which); the server must get exactly this, in order, once room comes.
    func clientSees(_ message: TMessage, heldUnder tag: UInt16, id: Int) {
        guard let backendTag = session.tags.backendTag(forClientTag: tag) else {
            return fail("\(message) was neither forwarded, answered nor held")
        }
        let roles = message.modelRoles
        // A release whose fid a request in flight names waits for it; anything else is held only
        // while the server is full.
        let waitsForFid = roles.released.map(namedInFlight) ?? false
        let how = waitsForFid ? "waiting" : "held"
        if !waitsForFid && heldOrder.isEmpty && requestsAtServer < session.limits.maxInFlight {
            return fail("\(message) was held although the server had room (\(requestsAtServer) requests there)")
        }
        var newBackendFid: UInt32?
        if let created = roles.created {
            guard let reserved = session.fids.lookup(created)?.backendFid else {
                return fail("\(how) \(message) reserved no backend fid for \(created)")
            }
            if let owner = backendFidOf.first(where: { $0.value == reserved }) {
                return fail("\(how) \(message) got backend fid \(reserved), which client fid \(owner.key) already stands for")
            }
            newBackendFid = reserved
        }
        guard let expected = rewritten(message, newBackendFid: newBackendFid) else {
            return fail("\(how) \(message) names fids the client does not hold")
        }
        claimFids(roles, newBackendFid: newBackendFid)
        inFlight[tag] = ClientRequest(id: id, tag: tag, message: message, backendTag: backendTag, heldAs: expected, waitsForFid: waitsForFid)
        if waitsForFid {
            coverage.releasesWaited += 1
        } else {
            coverage.held += 1
            heldOrder.append(tag)
        }
    }

    /// Whether a request in flight (at the server or held) names this client fid.
    func namedInFlight(_ clientFid: UInt32) -> Bool {
        inFlight.values.contains { !$0.waitsForFid && $0.message.modelRoles.existing.contains(clientFid) }
    }

    /// Releases whose fid nothing in flight names any more were sent by the gateway (seen in
    /// `serverReceives`) or are held now, behind the rest, in the order they came (backend tag).
    func heldFreedReleases() {
        let freed = inFlight.values.filter { request in
            request.waitsForFid && !namedInFlight(request.message.modelRoles.released ?? NineP.noFid)
        }
        for request in freed.sorted(by: { $0.backendTag < $1.backendTag }) {
            inFlight[request.tag]?.waitsForFid = false
            heldOrder.append(request.tag)
        }
    }

    /// A frame the gateway must refuse as malformed (EPROTO) or not a request (EOPNOTSUPP), touching nothing.
    func clientSendsMalformed(tag: UInt16) {
        let id = nextRequestID
        nextRequestID += 1
        let fid = someFid()
        let bytes: [UInt8]
        let errno: UInt32
        switch rng.below(4) {
        case 0:
            bytes = (Frame(tag: tag, message: TMessage.clunk(Tclunk(fid: fid))).encode(dialect: .linux) + [0, 0]).withSizePatched()
            errno = 71
        case 1:
            var walk = WireWriter()
            walk.u32(0); walk.u8(MessageType.Twalk.rawValue); walk.u16(tag)
            walk.u32(fid); walk.u32(anyFid()); walk.u16(17)
            for _ in 0..<17 { walk.string("a") }
            walk.patchU32(at: 0, UInt32(walk.bytes.count))
            bytes = walk.bytes
            errno = 71
        case 2:
            var attach = WireWriter()
            attach.u32(0); attach.u8(MessageType.Tattach.rawValue); attach.u16(tag)
            attach.u32(anyFid()); attach.u32(NineP.noFid); attach.u16(200); attach.raw([0x61])
            attach.patchU32(at: 0, UInt32(attach.bytes.count))
            bytes = attach.bytes
            errno = 71
        default:
            bytes = Frame(tag: tag, message: RMessage.clunk(Rclunk())).encode(dialect: .linux)
            errno = 95
        }
        note("client #\(id) tag \(tag): malformed \(bytes)")
        harness.clientSends(bytes)
        let atServer = serverReceives(batchIsGateways: false)
        let replies = clientReceives()
        guard !failed else { return }
        coverage.answeredLocally += 1
        if !atServer.isEmpty { return fail("a malformed frame reached the server: \(atServer)") }
        if replies != [Frame(tag: tag, message: .lerror(Rlerror(ecode: errno)))] {
            return fail("malformed frame: expected Rlerror \(errno), got \(replies)")
        }
        repliesReceived[id] = 1
    }

    /// A mid-session Tversion: everything in flight is abandoned (version(5): outstanding I/O is
    /// aborted and gets no reply), every fid is gone for the client; the gateway flushes what is
    /// at the server, clunks every backend fid and renegotiates before answering.
    func clientSendsVersion(tag: UInt16) {
        let id = nextRequestID
        nextRequestID += 1
        note("client #\(id) tag \(tag): Tversion")
        coverage.resets += 1
        let expectedFlushes = abandonEverything()
        version = (id, tag)
        harness.clientSends(tag: tag, .version(Tversion(msize: Self.msize, version: Dialect.linux.version)))
        checkAbandonFlushes(expected: expectedFlushes)
    }

    /// The client forgets its requests and fids; returns the backend tags the gateway must flush.
    func abandonEverything() -> Set<UInt16> {
        // Held requests never reached the server: they are dropped, not flushed. Nor is one the
        // client's own Tflush is at the server for (diod answers only the newest flush of a request).
        let flushedByClient = Set(inFlight.values.filter { $0.message.isFlush && $0.waitsOn == nil }.compactMap(\.flushTarget))
        let expected = Set(inFlight.values.filter { !$0.message.isFlush && $0.heldAs == nil && !flushedByClient.contains($0.id) }
            .map(\.backendTag))
        heldOrder.removeAll()
        flushWaiters.removeAll()
        for request in inFlight.values { abandoned.insert(request.id) }
        inFlight.removeAll()
        held.removeAll()
        backendFidOf.removeAll()
        return expected
    }

    func checkAbandonFlushes(expected: Set<UInt16>) {
        let atServer = serverReceives(batchIsGateways: true)
        let replies = clientReceives()
        guard !failed else { return }
        if !replies.isEmpty { return fail("the client got \(replies) right after abandoning its requests") }
        let flushes = atServer.compactMap { $0.message.flushOldtag }
        if Set(flushes) != expected || flushes.count != expected.count {
            return fail("expected one gateway Tflush for each of backend tags \(expected.sorted()), got \(atServer)")
        }
    }

    // MARK: The client receives

    func clientReceives() -> [Frame<RMessage>] {
        do {
            return try harness.clientReceived()
        } catch {
            fail("the client got an undecodable frame: \(error)")
            return []
        }
    }

    /// Applies one reply the client got to its model.
    func clientApplies(_ reply: Frame<RMessage>) {
        guard let request = inFlight.removeValue(forKey: reply.tag) else {
            return fail("reply \(reply) for tag \(reply.tag), which has no request in flight")
        }
        repliesReceived[request.id, default: 0] += 1
        let isError = reply.message.lerror != nil
        if !isError && reply.message.type.rawValue != request.message.type.rawValue &+ 1 {
            return fail("\(request.message) answered with \(reply.message)")
        }
        switch request.message {
        case let .attach(attach):
            if isError { forget(attach.fid) } else { held[attach.fid] = .ready }
        case let .walk(walk) where walk.newfid != walk.fid:
            if case let .walk(rwalk) = reply.message, rwalk.wqids.count == walk.wnames.count {
                held[walk.newfid] = .ready
            } else {
                // An error or a partial Rwalk: newfid was never created.
                forget(walk.newfid)
            }
        case let .clunk(clunk):
            forget(clunk.fid)
        case let .remove(remove):
            forget(remove.fid)
        case .flush:
            if isError { return fail("Tflush answered with \(reply.message)") }
            // flush(5): a request still unanswered when its Rflush arrives never happened and gets
            // no reply (if it was answered, that reply came first and it is no longer in flight).
            if let targetID = request.flushTarget, let target = inFlight.values.first(where: { $0.id == targetID }) {
                inFlight[target.tag] = nil
                flushedAway.insert(target.id)
                let roles = target.message.modelRoles
                if let created = roles.created { forget(created) }
                if let released = roles.released { held[released] = .ready }
            }
        default:
            break
        }
    }

    func forget(_ fid: UInt32) {
        held[fid] = nil
        backendFidOf[fid] = nil
    }

    // MARK: The server

    /// Takes what the session sent to the server, checks each frame against the server's model, and
    /// queues it. `batchIsGateways`: the frames were caused by an answer, a Tversion or a disconnect,
    /// not by a client request, so they are the gateway's own (flushes, cleanup clunks, Tversion).
    @discardableResult
    func serverReceives(batchIsGateways: Bool) -> [Frame<TMessage>] {
        let frames: [Frame<TMessage>]
        do {
            frames = try harness.backendReceived()
        } catch {
            fail("the server got an undecodable frame: \(error)")
            return []
        }
        let idleBefore = outstanding.isEmpty
        var others: [Frame<TMessage>] = []
        for frame in frames {
            note("server receives tag \(frame.tag): \(frame.message)")
            if let request = inFlight.values.first(where: { $0.waitsForFid && $0.backendTag == frame.tag }) {
                // A release that waited for its fid, sent as soon as nothing else named it.
                if frame.message != request.heldAs {
                    fail("waiting \(request.message) reached the server as \(frame.message), not \(String(describing: request.heldAs))")
                    return others
                }
                inFlight[request.tag]?.waitsForFid = false
                inFlight[request.tag]?.heldAs = nil
                coverage.releasesWaitedSent += 1
                receive(frame)
                continue
            }
            others.append(frame)
            if batchIsGateways, let first = heldOrder.first, let request = inFlight[first], request.backendTag == frame.tag {
                // A held request, sent now that a reply made room: the next in order, as accepted.
                if frame.message != request.heldAs {
                    fail("held \(request.message) reached the server as \(frame.message), not \(String(describing: request.heldAs))")
                    return others
                }
                heldOrder.removeFirst()
                inFlight[first]?.heldAs = nil
                coverage.heldSent += 1
                receive(frame)
                continue
            }
            if batchIsGateways, !frame.message.isFlush {
                // Cleanup clunks and Tversion come only once nothing is in flight (DESIGN.md: flush,
                // wait for the replies, clunk, wait for the Rclunks, then renegotiate or close).
                if !idleBefore {
                    fail("the gateway sent \(frame) while the server still had \(outstanding.count) requests")
                    return others
                }
                if case .clunk = frame.message {} else if !frame.message.isVersion {
                    fail("the gateway made up a request it has no reason to send: \(frame)")
                    return others
                }
            }
            receive(frame)
        }
        return others
    }

    func receive(_ frame: Frame<TMessage>) {
        let message = frame.message
        if harness.host.closeBackendCalls > 0 { return fail("\(frame) sent after closeBackend") }
        if outstanding.contains(where: { $0.tag == frame.tag }) { return fail("backend tag \(frame.tag) reused while outstanding: \(frame)") }
        if message.isVersion {
            if frame.tag != NineP.noTag { return fail("Tversion with tag \(frame.tag)") }
            if !outstanding.isEmpty || !serverFids.isEmpty {
                return fail("Tversion with \(outstanding.count) requests outstanding and backend fids \(serverFids.keys.sorted()) alive")
            }
        } else if frame.tag == NineP.noTag {
            return fail("NOTAG on \(frame)")
        }
        // Replies reach the session synchronously here, so a forwarded Tflush always names a request
        // still outstanding at the server (9P itself would allow a stale oldtag).
        if let oldtag = message.flushOldtag, !outstanding.contains(where: { $0.tag == oldtag }) {
            return fail("\(frame) names backend tag \(oldtag), which is not outstanding")
        }
        let roles = message.modelRoles
        if let released = roles.released, let busy = outstanding.first(where: { $0.message.modelRoles.existing.contains(released) }) {
            return fail("\(frame) releases backend fid \(released) while \(busy.message) (tag \(busy.tag)) still runs on it")
        }
        var incarnations: [UInt32: UInt64] = [:]
        for fid in roles.existing + (roles.released.map { [$0] } ?? []) {
            guard let incarnation = serverFids[fid] else {
                return fail("\(frame) names backend fid \(fid), which does not exist at the server")
            }
            if let release = outstanding.first(where: { $0.message.modelRoles.released == fid }) {
                return fail("\(frame) names backend fid \(fid) while \(release.message) (tag \(release.tag)) is releasing it")
            }
            incarnations[fid] = incarnation
        }
        if let created = roles.created {
            if created == NineP.noFid || serverFids[created] != nil {
                return fail("\(frame) creates backend fid \(created), which already exists")
            }
            if let other = outstanding.first(where: { $0.message.modelRoles.created == created }) {
                return fail("\(frame) creates backend fid \(created), which \(other.message) (tag \(other.tag)) is creating too")
            }
            // A server knows a fid only by its number. If a request that named an earlier fid with this
            // number is still outstanding (a Tgetattr that raced the Tclunk of its fid), the server
            // would apply it to the new fid, which may stand for another client fid altogether.
            if let stale = outstanding.first(where: { $0.incarnations[created] != nil }) {
                return fail("\(frame) reuses backend fid \(created) while \(stale.message) (tag \(stale.tag)), which named its previous incarnation, is outstanding")
            }
        }
        outstanding.append(ServerRequest(tag: frame.tag, message: message, incarnations: incarnations))
    }

    func serverAction() {
        guard !outstanding.isEmpty else { return }
        // Chosen from a stable order, so that a seed replays exactly: the gateway sends the
        // flushes of a Tversion or a disconnect in dictionary order, which differs between runs
        // (the flushes differ only in their tags, so sorting them by what they name is enough).
        let candidates = outstanding.sorted { stableKey($0) < stableKey($1) }
        let flushes = candidates.filter { $0.message.isFlush }
        if !flushes.isEmpty && rng.chance(percent: 30), let flush = rng.pick(flushes) {
            answer(flush)
        } else if let request = rng.pick(candidates) {
            answer(request)
        }
    }

    func stableKey(_ request: ServerRequest) -> (Int, UInt16) {
        if let oldtag = request.message.flushOldtag { return (1, oldtag) }
        return (0, request.tag)
    }

    /// Answers one outstanding request. A Tflush first answers its target or drops it (the target
    /// then never happened); then Rflush.
    func answer(_ request: ServerRequest, forceSuccess: Bool = false) {
        guard let index = outstanding.firstIndex(where: { $0.tag == request.tag }) else {
            return fail("answering tag \(request.tag), which is not outstanding")
        }
        outstanding.remove(at: index)
        if let oldtag = request.message.flushOldtag {
            if let target = outstanding.first(where: { $0.tag == oldtag }) {
                if rng.chance(percent: 50) {
                    coverage.flushTargetsAnsweredFirst += 1
                    answer(target)
                } else {
                    coverage.flushTargetsDropped += 1
                    note("server drops tag \(target.tag) (\(target.message)) for flush tag \(request.tag)")
                    outstanding.removeAll { $0.tag == target.tag }
                }
            }
            guard !failed else { return }
            return serverSends(.flush(Rflush()), to: request)
        }
        serverSends(reply(to: request, forceSuccess: forceSuccess), to: request)
    }

    /// The server's reply, applied to its model: a created fid appears on full success, a released
    /// fid is gone whatever the reply.
    ///
    /// What the server allows: a request may name a fid that existed when it arrived and that a
    /// racing Tclunk/Tremove (sent by the client while the request was in flight, which the gateway
    /// rightly passes on) destroyed before the answer; it is answered EBADF and has no effect, as a
    /// server that looks fids up when it works on a request would. The fid number must still be
    /// unused then (see `receive`), and a release itself never races another release (the gateway
    /// answers EBUSY for a fid being released), so a Tclunk/Tremove always finds its fid.
    func reply(to request: ServerRequest, forceSuccess: Bool) -> RMessage {
        let success = forceSuccess || rng.chance(percent: 75)
        let roles = request.message.modelRoles
        var stale = false
        for (fid, incarnation) in request.incarnations {
            guard let current = serverFids[fid] else {
                if fid == roles.released {
                    fail("\(request.message) (tag \(request.tag)) releases backend fid \(fid), gone since it arrived")
                }
                stale = true
                continue
            }
            if current != incarnation {
                fail("\(request.message) (tag \(request.tag)) names backend fid \(fid), whose number was reused since it arrived")
            }
        }
        if let released = roles.released { serverFids[released] = nil }
        if stale && roles.released == nil {
            coverage.staleAnswers += 1
            return .lerror(Rlerror(ecode: 9))
        }
        func create(_ fid: UInt32?) {
            guard let fid else { return }
            if serverFids[fid] != nil { return fail("\(request.message) would create backend fid \(fid) twice") }
            serverFids[fid] = nextIncarnation
            nextIncarnation += 1
        }
        switch request.message {
        case let .version(version):
            return .version(Rversion(msize: version.msize, version: version.version))
        case .attach:
            guard success else { return .lerror(Rlerror(ecode: 13)) }
            create(roles.created)
            return .attach(Rattach(qid: SessionHarness.rootQid))
        case let .walk(walk):
            let qids = walk.wnames.map { _ in SessionHarness.fileQid }
            if success {
                create(roles.created)
                return .walk(Rwalk(wqids: qids))
            }
            // walk(5): a walk that fails at the first name is an error; a later name, a partial Rwalk.
            if walk.wnames.count > 1 && rng.chance(percent: 75) {
                coverage.partialWalks += 1
                return .walk(Rwalk(wqids: Array(qids.prefix(rng.below(walk.wnames.count - 1) + 1))))
            }
            return .lerror(Rlerror(ecode: 2))
        case .clunk:
            return success || rng.chance(percent: 50) ? .clunk(Rclunk()) : .lerror(Rlerror(ecode: 5))
        case .remove:
            return success ? .remove(Rremove()) : .lerror(Rlerror(ecode: 13))
        case .getattr:
            return success ? .getattr(SessionHarness.sampleGetattr) : .lerror(Rlerror(ecode: 5))
        case .lopen:
            return success ? .lopen(Rlopen(qid: SessionHarness.fileQid, iounit: 0)) : .lerror(Rlerror(ecode: 21))
        case .read:
            return success ? .read(Rread(data: [1, 2, 3])) : .lerror(Rlerror(ecode: 5))
        default:
            fail("the server got a request this test never sends: \(request.message)")
            return .lerror(Rlerror(ecode: 95))
        }
    }

    /// Sends a reply to the session and checks what reaches the client: the reply itself, retagged,
    /// when the client still waits for it; nothing for the gateway's own requests and abandoned ones.
    func serverSends(_ reply: RMessage, to request: ServerRequest) {
        guard !failed else { return }
        note("server answers tag \(request.tag) (\(request.message)): \(reply)")
        var expected: [Frame<RMessage>] = []
        if request.message.isVersion {
            if let version {
                expected = [Frame(tag: version.tag, message: .version(Rversion(msize: Self.msize, version: Dialect.linux.version)))]
            }
        } else if let waiting = inFlight.values.first(where: { $0.backendTag == request.tag && $0.waitsOn == nil && $0.heldAs == nil }) {
            expected = [Frame(tag: waiting.tag, message: reply)]
            // The Tflushes waiting on this one are answered right after it, in order.
            for tag in flushWaiters.removeValue(forKey: waiting.id) ?? [] {
                expected.append(Frame(tag: tag, message: .flush(Rflush())))
            }
        }
        harness.backendSends(tag: request.tag, reply)
        serverReceives(batchIsGateways: true)
        let replies = clientReceives()
        guard !failed else { return }
        if replies != expected {
            return fail("the server answered tag \(request.tag) (\(request.message)) with \(reply): the client should get \(expected), got \(replies)")
        }
        if request.message.isVersion, let pending = version {
            repliesReceived[pending.id, default: 0] += 1
            self.version = nil
            if session.phase != .active { fail("Rversion delivered, yet the phase is \(session.phase)") }
            return
        }
        replies.forEach(clientApplies)
        heldFreedReleases()
    }

    // MARK: Invariants

    /// Checked after every step.
    func checkInvariants() {
        guard !failed else { return }
        if !harness.host.closeClientReasons.isEmpty { return fail("the client was closed: \(harness.host.closeClientReasons)") }
        if harness.host.closeBackendCalls != 0 { return fail("closeBackend was called mid-session") }
        // Invariant 2, checked at every step and not only when quiescent: the session commits a
        // fid-table change at the same reply the server applies it at, so the two never differ.
        let live = session.fids.liveBackendFids
        if live != Set(serverFids.keys) {
            return fail("the session's live backend fids \(live.sorted()) are not the server's \(serverFids.keys.sorted())")
        }
        // Invariant 3: every ready client fid stands for a distinct backend fid that exists; a fid
        // being created stands for one that does not exist yet. The client's view agrees.
        var seen: [UInt32: UInt32] = [:]
        for (clientFid, record) in session.fids.clientFids {
            if let other = seen.updateValue(clientFid, forKey: record.backendFid) {
                return fail("client fids \(other) and \(clientFid) both stand for backend fid \(record.backendFid)")
            }
            let exists = serverFids[record.backendFid] != nil
            switch record.state {
            case .ready, .releasing:
                if !exists { return fail("client fid \(clientFid) (\(record.state)) stands for backend fid \(record.backendFid), which does not exist") }
            case .pending:
                if exists { return fail("client fid \(clientFid) is pending, yet backend fid \(record.backendFid) already exists") }
            }
            let expectedState: ClientFidState = switch record.state {
            case .ready: .ready
            case .pending: .creating
            case .releasing: .releasing
            }
            if held[clientFid] != expectedState || backendFidOf[clientFid] != record.backendFid {
                return fail("the session has client fid \(clientFid) as \(record.state) → \(record.backendFid); "
                            + "the client has \(held[clientFid].map(\.description) ?? "nothing") → \(backendFidOf[clientFid].map(String.init) ?? "nothing")")
            }
        }
        if Set(held.keys) != Set(session.fids.clientFids.keys) {
            return fail("the client holds \(held.keys.sorted()), the session \(session.fids.clientFids.keys.sorted())")
        }
        // Held requests wait only while the server is full.
        if !heldOrder.isEmpty && requestsAtServer < session.limits.maxInFlight && session.phase == .active {
            return fail("requests \(heldOrder) are held although the server has room (\(requestsAtServer) requests there)")
        }
        // The tags the client waits on are the ones the session maps.
        if session.tags.clientOutstanding != inFlight.count {
            return fail("the session waits on \(session.tags.clientOutstanding) client tags, the client on \(inFlight.keys.sorted())")
        }
        for request in inFlight.values where session.tags.backendTag(forClientTag: request.tag) != request.backendTag {
            return fail("client tag \(request.tag) maps to \(String(describing: session.tags.backendTag(forClientTag: request.tag))), not \(request.backendTag)")
        }
    }

    // MARK: The end

    /// Optionally breaks the protocol with a tag in flight, then disconnects and lets the gateway
    /// flush and clunk everything: the server must end with no fids and one closeBackend.
    func finish() {
        guard !failed else { return }
        step = ProxySessionModelTests.steps
        if rng.chance(percent: 50) { reuseTagInFlight() }
        guard !failed else { return }

        note("client closes")
        let expectedFlushes = abandonEverything()
        if let version { abandoned.insert(version.id) }
        version = nil
        session.clientClosed()
        checkAbandonFlushes(expected: expectedFlushes)
        var answers = 0
        while !outstanding.isEmpty && !failed {
            serverAction()
            answers += 1
            if harness.host.closeBackendCalls > 0 && (!outstanding.isEmpty || !serverFids.isEmpty) {
                return fail("closeBackend with \(outstanding.count) requests outstanding and fids \(serverFids.keys.sorted()) alive")
            }
            if answers > 10_000 { return fail("the drain does not end") }
        }
        guard !failed else { return }
        if harness.host.closeBackendCalls != 1 { return fail("closeBackend called \(harness.host.closeBackendCalls) times") }
        if !serverFids.isEmpty { return fail("the server still has fids \(serverFids.keys.sorted()) after the drain") }
        if !session.fids.liveBackendFids.isEmpty { return fail("the session still has live fids \(session.fids.liveBackendFids.sorted())") }
        if !session.isClosed { return fail("the session is \(session.phase) after the drain") }
        if session.tags.outstanding != 0 { return fail("the session still has \(session.tags.outstanding) requests outstanding") }
        checkEveryRequestAnswered()
    }

    /// A request under a tag already in flight: the gateway cannot tell the two apart in the
    /// replies and closes the client, sending nothing anywhere.
    func reuseTagInFlight() {
        guard session.acceptsClientFrames else { return }
        if inFlight.isEmpty, let tag = freeTag() {
            let fid = held.keys.sorted().first { held[$0] == .ready }
            clientSends(fid.map { .getattr(Tgetattr(fid: $0, requestMask: 1)) }
                        ?? .attach(Tattach(fid: 99, afid: NineP.noFid, uname: "glenda", aname: "", nUname: 1000)), tag: tag)
        }
        guard !failed, let tag = rng.pick(inFlight.keys.sorted()) else { return }
        note("client reuses tag \(tag) while in flight")
        harness.clientSends(tag: tag, .getattr(Tgetattr(fid: 0, requestMask: 1)))
        let atServer = serverReceives(batchIsGateways: false)
        let replies = clientReceives()
        guard !failed else { return }
        if harness.host.closeClientReasons.count != 1 { return fail("a tag reused in flight did not close the client") }
        if !atServer.isEmpty || !replies.isEmpty { return fail("a tag reused in flight sent \(atServer) / \(replies)") }
        coverage.duplicateTagClose = true
    }
}

private extension TMessage {
    var flushOldtag: UInt16? { if case let .flush(message) = self { message.oldtag } else { nil } }
}
