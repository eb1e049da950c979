import Foundation
import Pebble

/// The session's guards and what it reports: frame, idle and backend timeouts, sessions per
/// client, the rate limits' wake-ups, revocation, and its summary and fid count for `/metrics`.
extension GatewaySession {
    /// How often the frame and idle timeouts are checked: a quarter of the shorter, within 0.1–1 s.
    var watchIntervalMilliseconds: UInt64? {
        let limits = [settings.frameTimeoutMilliseconds, settings.idleTimeoutMilliseconds, settings.backendTimeoutMilliseconds].filter { $0 > 0 }
        guard let shortest = limits.min() else { return settings.sessions == nil ? nil : 1000 }
        return min(max(shortest / 4, 100), 1000)
    }

    func armWatch() {
        guard let interval = watchIntervalMilliseconds else { return }
        watchTimer = loop.schedule(after: interval) { [weak self] in self?.checkTimeouts() }
    }

    /// A frame that has been arriving for `frame-timeout` (a slowloris: bytes trickle in, or stop)
    /// ends the session; so does `idle-timeout` without a byte from the client while nothing is at
    /// the server. Frames left in the buffer because the gateway stopped reading (backpressure) and a
    /// payload being spliced are not the client's delay.
    func checkTimeouts() {
        guard clientOpen, !client.isClosing else { return }
        if !core.expireRequests() {
            return closeClient(reason: "the file server did not answer a flush within \(settings.backendTimeoutMilliseconds / 1000) s (backend-timeout)")
        }
        flushAndBalance()
        let partial = !client.input.isEmpty && canTakeClientFrames && upload == nil && core.dialect != nil
        switch watch.verdict(now: .now, partialFrame: partial, requestsAtServer: core.tags.outstanding,
                             frameTimeout: .milliseconds(settings.frameTimeoutMilliseconds),
                             idleTimeout: .milliseconds(settings.idleTimeoutMilliseconds)) {
        case .frameStalled:
            closeClient(reason: "a frame took longer than \(settings.frameTimeoutMilliseconds / 1000) s to arrive (frame-timeout)")
        case .idle:
            closeClient(reason: "idle for \(settings.idleTimeoutMilliseconds / 1000) s (idle-timeout)")
        case .fine:
            publish()
            armWatch()
        }
    }

    /// Publishes this session's summary for `/sessions`.
    func publish() {
        guard let directory = settings.sessions else { return }
        let stats = core.stats
        directory.publish(.init(session: sessionNumber, peer: peer, identity: identity.description, tokenID: core.sessionTokenID,
                                dialect: core.dialect?.rawValue, msize: core.msize, fids: core.fids.count, requests: stats.requests,
                                bytesIn: stats.bytesFromClient, bytesOut: stats.bytesToClient, bytesHeld: core.bytesHeld,
                                quota: core.quota.map { $0.limit == .max ? nil : $0.limit } ?? nil,
                                rateOps: core.pacing?.accounts.first?.rates.opsPerSecond,
                                rateBytes: core.pacing?.accounts.first?.rates.bytesPerSecond,
                                seconds: Double((ContinuousClock.now - startedAt).components.seconds)))
    }

    /// Brings the `fids_active` and `blue_bytes_held` gauges up to date with this session's backend
    /// fids and Blue bytes.
    func reportFids() {
        let live = core.fids.liveBackendFids.count
        if live != fidsReported {
            settings.metrics.fidsActive.add(live - fidsReported)
            fidsReported = live
        }
        if core.blueBytes != blueBytesReported {
            settings.metrics.blueBytesHeld.add(core.blueBytes - blueBytesReported)
            blueBytesReported = core.blueBytes
        }
    }

    /// Sets the session's budgets for who it is (`rateKey`): its per-session limits, its own and its
    /// identity's rate accounts, its byte quota, and its shares of the identity's ledgers. Called at the start, and again when a
    /// TLS handshake names the identity — before any request, so nothing charged is lost.
    func applyBudgets() {
        core.limits = settings.clientLimits[rateKey] ?? settings.limits
        core.access.blue = settings.clientBlue[rateKey] ?? settings.blue
        if let rates = settings.rates {
            let now = ProxySession.monotonicSeconds()
            core.pacing = ProxySession.Pacing(accounts: [rates.sessionAccount(rateKey, now: now), rates.account(rateKey, now: now)],
                                              now: { ProxySession.monotonicSeconds() })
        }
        if let ledgers = settings.bytesHeld {
            core.quota = ProxySession.Quota(limit: ledgers.limit(for: rateKey), shared: ledgers.share(rateKey))
        }
        core.clientTotals = .init(fids: settings.fidsPerClient?.share(rateKey), requests: settings.requestsPerClient?.share(rateKey))
    }

    /// Who the session's budgets are kept for: its verified certificate's identity, else the token
    /// it first attached with (`token:ID`), else its address without the port (every connection
    /// from one host is one identity).
    var rateKey: String {
        if identity.isAuthenticated { return identity.description }
        if let tokenIdentity { return "token:\(tokenIdentity)" }
        return "addr:\(peerHost ?? peer)"
    }

    /// Counts this session under `key` (`--max-conns-per-client`); past the limit the session is
    /// closed before any request is handled, with a log line and a BUDGET_EXCEEDED event.
    func countConnection(as key: String) -> Bool {
        guard let limit = claimConnection(as: key) else { return true }
        audit(AuditEvent(kind: .budgetExceeded, budget: .connections, detail: "connections of \(key) (\(limit))"))
        closeClient(reason: "\(key) already has \(limit) sessions (max-conns-per-client)")
        return false
    }

    /// Counts this session under `key`; nil when it fits, else the key's limit (nothing counted).
    func claimConnection(as key: String) -> Int? {
        guard let counts = settings.connectionCounts else { return nil }
        let share = counts.share(key)
        guard share.reserve() else { return share.limit }
        countedAs.append(share)
        return nil
    }

    func attaching(withToken id: String) -> ProxyError? {
        guard !identity.isAuthenticated, tokenIdentity == nil else { return nil }
        let key = "token:\(id)"
        if let limit = claimConnection(as: key) {
            return .budgetExceeded(.connections, "connections of \(key) (\(limit))")
        }
        tokenIdentity = id
        applyBudgets()
        logger.debug("budgets kept for the token", metadata: ["budget_identity": "\(key)"])
        return nil
    }

    /// The pacing timer: held requests go when it fires (`ProxySession.wakeWhenPaced`).
    func wake(after seconds: Double) {
        guard pacingTimer == nil, clientOpen else { return }
        settings.metrics.rateDelayMicroseconds.add(Int(seconds * 1e6))
        let milliseconds = UInt64(min(max(seconds * 1000, 1), 60_000).rounded(.up))
        pacingTimer = loop.schedule(after: milliseconds) { [weak self] in
            guard let self else { return }
            self.pacingTimer = nil
            self.sendHeld()
            if self.clientOpen && !self.client.input.isEmpty && self.canTakeClientFrames {
                self.pumpClient()
            } else {
                self.flushAndBalance()
            }
        }
    }

    /// Tokens were revoked at a reload: a session that attached with one is cut off.
    func revoke(tokenIDs: Set<String>) {
        guard clientOpen, let id = core.sessionTokens.keys.sorted().first(where: tokenIDs.contains) else { return }
        audit(AuditEvent(kind: .tokenRejected, tokenID: id, detail: "revoked: session cut off at reload"))
        closeClient(reason: "token \(id) revoked")
    }
}
