import Foundation
import NineP
import Pebble

/// Capabilities on a session: the attach of a token's session, walks that stay below the
/// capability's root, and the audit events of refusals.
extension ProxySession {
    // MARK: Attach with a token

    /// A Tattach with a valid token (`RequestPolicy.Decision.attach`): the gateway attaches with
    /// its own aname and uname, walks to the capability's root with its own requests, and gives the
    /// client its fid there. Meanwhile the client's request waits registered but unsent, so its
    /// tag is in use and a Tflush of it is answered at once (the fid made is then clunked).
    func attach(as capability: Capability, _ attach: Tattach, tag: UInt16) {
        if let error = host.attaching(withToken: capability.tokenID) {
            return refuse(error, tag: tag, subject: nil)
        }
        if let error = admitToTotals(createsFid: true, type: .Tattach) {
            settleTotals()
            return refuse(error, tag: tag, subject: nil)
        }
        var waiting = PendingRequest(origin: .client(tag: tag), type: .Tattach, serial: tags.makeSerial())
        waiting.sent = false
        guard let waitingTag = tags.add(waiting) else { return refuse(.tooManyRequests, tag: tag, subject: nil) }
        let pending = AttachInProgress(waitingTag: waitingTag, serial: waiting.serial, clientTag: tag, clientFid: attach.fid,
                                       backendFid: fids.reserve(attach.fid), capability: capability,
                                       token: [attach.aname, attach.uname].lazy.compactMap {
                                           try? CapabilityToken(text: String(decoding: $0.bytes, as: UTF8.self))
                                       }.first { $0.idHex == capability.tokenID })
        // The token names the backend user, or the gateway's setting does; else the client's.
        let uname = capability.uname ?? access.backendUname
        let root = capability.root.names.map { WireString($0) }
        let attachFid = root.isEmpty ? pending.backendFid : newBackendFid()
        let request = Tattach(fid: attachFid, afid: NineP.noFid, uname: uname.map { WireString($0) } ?? attach.uname,
                              aname: WireString(access.backendAname), nUname: uname == nil ? attach.nUname : NineP.noUid)
        let sent = sendOwn(.attach(request), creates: attachFid) { [unowned self] reply in
            guard case let .attach(attached)? = reply else {
                return attachFinished(pending, .failure(ProxyError(serverReply: reply)), made: false)
            }
            if root.isEmpty { return attachFinished(pending, .success(attached.qid), made: true) }
            walkToRoot(pending, from: attachFid, names: root)
        }
        if !sent { attachFinished(pending, .failure(.tooManyRequests), made: false) }
    }

    /// The capability's root, walked from the export's: every step must exist and none may be a
    /// symlink (the server would follow it out of the subtree); the last must be a directory.
    private func walkToRoot(_ pending: AttachInProgress, from exportFid: UInt32, names: [WireString]) {
        let sent = sendOwn(.walk(Twalk(fid: exportFid, newfid: pending.backendFid, wnames: names)), creates: pending.backendFid) {
            [unowned self] reply in
            sendOwn(.clunk(Tclunk(fid: exportFid)), releases: exportFid) { _ in }
            guard case let .walk(walk)? = reply else {
                return attachFinished(pending, .failure(ProxyError(serverReply: reply)), made: false)
            }
            let made = walk.wqids.count == names.count
            guard made, let last = walk.wqids.last else {
                return attachFinished(pending, .failure(ProxyError(errno: 2, message: "No such file or directory",
                                                                   detail: "capability path not found")), made: false)
            }
            if walk.wqids.contains(where: { $0.type & Qid.symlink != 0 }) || !last.isDirectory {
                var error = ProxyError.throughSymlink
                error.detail = "capability path \(pending.capability.root) is not a directory reached without symlinks"
                return attachFinished(pending, .failure(error), made: true)
            }
            attachFinished(pending, .success(last), made: true)
        }
        if !sent { attachFinished(pending, .failure(.tooManyRequests), made: false) }
    }

    /// Answers the client's Tattach, unless it was flushed or the session moved on meanwhile; a
    /// backend fid that was made but is not handed over is clunked.
    private func attachFinished(_ pending: AttachInProgress, _ result: Result<Qid, ProxyError>, made: Bool) {
        let wanted = tags.request(pending.waitingTag)?.serial == pending.serial
        if wanted { _ = tags.complete(pending.waitingTag) }
        if wanted, case let .success(qid) = result {
            fids.commitCreated(clientFid: pending.clientFid, backendFid: pending.backendFid)
            fids.describe(clientFid: pending.clientFid, backendFid: pending.backendFid) { fid in
                fid.scope = FidScope(rights: pending.capability.rights, path: .root, rootQid: qid,
                                     tokenID: pending.capability.tokenID, attachID: pending.serial)
                fid.qidType = qid.type
            }
            sessionTokenID = pending.capability.tokenID
            host.tokenAccepted()
            narrowRates(to: pending.capability)
            narrowQuota(to: pending.capability.quota)
            if access.budgets, let limit = pending.capability.maxFids { tokenFidLimit = min(tokenFidLimit ?? limit, limit) }
            if let token = pending.token { sessionTokens[token.idHex] = (token, pending.capability.root) }
            return sendToClient(.attach(Rattach(qid: qid)), tag: pending.clientTag)
        }
        fids.orphan(clientFid: pending.clientFid, backendFid: pending.backendFid)
        if made { sendOwn(.clunk(Tclunk(fid: pending.backendFid)), releases: pending.backendFid) { _ in } }
        if wanted, case var .failure(error) = result {
            error.tokenID = pending.capability.tokenID
            refuse(error, tag: pending.clientTag, subject: nil)
        }
    }

    /// A token's `rate-ops` and `rate-bytes` caveats narrow the session's own rate account (made
    /// now when the gateway has no rate limit of its own).
    private func narrowRates(to capability: Capability) {
        guard access.budgets, capability.rateOps != nil || capability.rateBytes != nil else { return }
        if pacing == nil {
            let unlimited = RateLimiter(opsPerSecond: nil, bytesPerSecond: nil, burstSeconds: access.burstSeconds, now: access.monotonicNow())
            pacing = Pacing(accounts: [SessionRate(unlimited)], now: access.monotonicNow)
        }
        pacing?.accounts.first?.narrow(opsPerSecond: capability.rateOps.map(Double.init),
                                       bytesPerSecond: capability.rateBytes.map(Double.init), now: access.monotonicNow())
    }

    struct AttachInProgress {
        let waitingTag: UInt16
        let serial: UInt64
        let clientTag: UInt16
        let clientFid: UInt32
        let backendFid: UInt32
        let capability: Capability
        /// The token presented (verified by the policy), for delegation.
        let token: CapabilityToken?
    }

    // MARK: Delegation

    /// `user.pebble.cap` read through a fid: the session's token with two more caveats, the fid's
    /// path (below the token's own) and its rights, as a value the gateway holds for `newfid`.
    func delegate(_ scope: FidScope, newfid: UInt32, tag: UInt16) {
        guard let tokenID = scope.tokenID, var (token, root) = sessionTokens[tokenID] else {
            return refuse(.fidKind, tag: tag, subject: nil)
        }
        for name in scope.path.names { root = root.appending(name) }
        do {
            try token.attenuate(.path(root.description))
            try token.attenuate(.rights(scope.rights))
        } catch {
            return refuse(.tokenRejected(error), tag: tag, subject: nil)
        }
        let value = Array(token.text.utf8)
        fids.addValue(clientFid: newfid, value: value)
        sendToClient(.xattrwalk(Rxattrwalk(size: UInt64(value.count))), tag: tag)
    }

    // MARK: Walks below a capability root

    /// The reply to a walk from a fid with a scope (`WalkPlan`): the client gets the root's qid for
    /// each `..` at the root, and no qid past a symlink the server walked through; a fid the server
    /// made past such a symlink is clunked, never handed to the client. Returns false (the reply
    /// is re-encoded, never passed on as it came).
    func scopedWalkReply(_ frame: UnsafeMutableRawBufferPointer, header: FrameHeader, request: PendingRequest,
                         plan: WalkPlan) -> Bool {
        // Well typed: an error (in any dialect's form), or an Rwalk with no more qids than names and,
        // for a failing first name, an error rather than no qids (walk(5)).
        let outcome = ReplyOutcome(of: UnsafeRawBufferPointer(frame), header: header, answering: request, dialect: dialect,
                                   payloadToFollow: 0)
        var serverQids: [Qid]?
        if !outcome.isError, case let .walk(walk)? = dialect.flatMap({ try? Frame<RMessage>.decode(UnsafeRawBufferPointer(frame), dialect: $0).message }) {
            serverQids = walk.wqids
        }
        let known = outcome.wellTyped && (outcome.isError || serverQids != nil)
        let rootQid = request.scope?.rootQid ?? Qid(type: Qid.directory, version: 0, path: 0)
        let clientQids = known ? plan.clientQids(backend: serverQids ?? [], rootQid: rootQid) : []
        let complete = known && clientQids.count == plan.atRoot.count
        let serverComplete = known && serverQids?.count == plan.backendNames.count
        settle(request, succeeded: serverComplete, known: known,
               walked: complete ? (plan.result, clientQids.last?.type ?? request.subjectQidType, clientQids.last?.path) : nil)
        let stoppedAtSymlink = serverComplete && !complete
        if stoppedAtSymlink { takeBack(request) }
        ended(request)
        guard case let .client(clientTag) = request.origin, !request.abandoned else { return false }
        if !known {
            refuse(.badBackendReply, tag: clientTag, subject: nil)
        } else if clientQids.isEmpty {
            // The server's error for the first name.
            return deliver(frame, header: header, clientTag: clientTag, wellTyped: true, payloadToFollow: 0)
        } else {
            if stoppedAtSymlink {
                host.audit(AuditEvent(kind: .confinementBlocked, tokenID: request.scope?.tokenID,
                                      path: request.scope.map { "\($0.path)" }, detail: "walk stopped at a symlink"))
            }
            sendToClient(.walk(Rwalk(wqids: clientQids)), tag: clientTag)
        }
        return false
    }

    /// A fid the server walked past a symlink: the client does not get it (or, walked in place,
    /// loses it: it no longer stands for what the client holds), and the gateway clunks it.
    private func takeBack(_ request: PendingRequest) {
        guard let backendFid = request.createdBackendFid ?? request.changedFid?.backend else { return }
        if let clientFid = request.createdClientFid ?? request.changedFid?.client {
            fids.orphan(clientFid: clientFid, backendFid: backendFid)
        }
        sendOwn(.clunk(Tclunk(fid: backendFid)), releases: backendFid) { _ in }
    }

    // MARK: Refusals

    /// Answers a request with an error the gateway chose; a security refusal is also an audit
    /// event (a stale fid's only the first few times in a session, then every thousandth).
    func refuse(_ error: ProxyError, tag: UInt16, subject: RequestPolicy.Operand?) {
        if let kind = error.event {
            var event = AuditEvent(kind: kind, budget: error.budget, tokenID: error.tokenID ?? subject?.record?.scope?.tokenID ?? sessionTokenID,
                                   fid: subject?.clientFid, path: subject?.record?.scope.map { "\($0.path)" },
                                   detail: error.detail ?? error.message)
            if Self.repeatableEvents.contains(kind) {
                let count = repeatedEvents[kind, default: 0] &+ 1
                repeatedEvents[kind] = count
                event.logged = count <= 16 || count % 1000 == 0
                if count > 16 { event.detail += " (\(count) in this session)" }
            }
            host.audit(event)
        }
        reply(error: error, tag: tag)
    }
}

extension ProxyError {
    /// A server's error reply to one of the gateway's own requests, for the client that waited on
    /// it; a malformed or unexpected reply is EIO.
    init(serverReply reply: RMessage?) {
        switch reply {
        case let .lerror(error)?:
            self.init(errno: error.ecode, message: String(cString: strerror(Int32(truncatingIfNeeded: error.ecode))))
        case let .error(error)?:
            self.init(errno: error.errno ?? ProxyError.backendGone.errno, message: String(decoding: error.ename.bytes, as: UTF8.self))
        default:
            self = .badBackendReply
        }
    }
}
