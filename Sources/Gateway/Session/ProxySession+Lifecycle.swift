import NineP
import Pebble

/// Version negotiation, resets, and the end of a session: flushes, cleanup clunks, close.
extension ProxySession {
    /// Tversion: negotiate now, or after a reset when the session already has state.
    func clientVersion(_ frame: UnsafeMutableRawBufferPointer, tag: UInt16) {
        let request: Tversion
        do {
            // Tversion has the same form in every dialect.
            guard case let .version(decoded) = try Frame<TMessage>.decode(UnsafeRawBufferPointer(frame), dialect: .linux).message
            else { return }
            request = decoded
        } catch {
            return reply(error: .malformed(error), tag: tag)
        }
        let (requested, version) = (request.msize, request.version)
        switch phase {
        case .unversioned:
            startVersion(clientTag: tag, msize: requested, version: version)
        case .active:
            rollbackAllBlue(reason: "the client reset the session (Tversion)")
            phase = .resetting(clientTag: tag, msize: requested, version: version)
            abandonOutstanding()
            advanceCleanup()
        default:
            host.closeClient(reason: "Tversion while a version exchange is in progress")
        }
    }

    func startVersion(clientTag: UInt16, msize requested: UInt32, version: WireString) {
        msize = 0
        backendMsize = 0
        dialect = nil
        let offered = min(requested, limits.maxMsize)
        guard let wanted = Dialect(version: version), offered >= Self.minimumMsize else {
            phase = .unversioned
            return sendToClient(.version(Rversion(msize: offered, version: "unknown")), tag: clientTag)
        }
        phase = .negotiating(clientTag: clientTag, offered: offered, wanted: wanted)
        _ = tags.addVersion(PendingRequest(origin: .gateway, type: .Tversion, serial: tags.makeSerial()))
        sendToBackend(.version(Tversion(msize: offered, version: wanted.version)), tag: NineP.noTag)
    }

    func backendVersion(_ frame: UnsafeMutableRawBufferPointer, header: FrameHeader, wellTyped: Bool) {
        guard case let .negotiating(clientTag, offered, wanted) = phase else { return }
        if wellTyped, case let .version(answer)? = try? Frame<RMessage>.decode(UnsafeRawBufferPointer(frame), dialect: .linux).message,
           let agreed = Dialect(version: answer.version), agreed == wanted || agreed == .plan9,
           min(offered, answer.msize) >= Self.minimumMsize {
            // The client may use its own msize even when the server's is smaller (`+Bridging`).
            backendMsize = min(offered, answer.msize)
            msize = limits.bridgeMsize ? offered : backendMsize
            dialect = agreed
            phase = .active
            return sendToClient(.version(Rversion(msize: msize, version: agreed.version)), tag: clientTag)
        }
        // The server does not speak what the client asked for (diod answers 9P2000 with Rlerror), or
        // answered with a dialect the client did not ask for: version(5) lets a server only step
        // down to an earlier version, and plain 9P2000 is the one every dialect builds on.
        phase = .unversioned
        sendToClient(.version(Rversion(msize: offered, version: "unknown")), tag: clientTag)
    }

    /// The client's connection ended: flush what it left in flight, clunk its fids, then close.
    func clientClosed() {
        switch phase {
        case .closed, .draining:
            return
        default:
            rollbackAllBlue(reason: "the client went away")
            phase = .draining
            abandonOutstanding()
            advanceCleanup()
        }
    }

    /// The backend's connection ended: nothing more can be answered.
    func backendClosed() {
        guard phase != .closed else { return }
        let wasDraining = phase == .draining
        rollbackAllBlue(reason: "the file server closed the connection")
        forgetSplits()
        phase = .closed
        if !wasDraining {
            host.closeClient(reason: "file server closed the connection")
        }
    }

    /// Marks every request as unwanted, drops the held ones, asks the server to flush the rest of
    /// the client's, and forgets the client's fids.
    func abandonOutstanding() {
        for tag in held.removeAll() { dropHeld(tag) }
        for tag in releasesWaiting.values.map(\.tag) { dropHeld(tag) }
        // Tflushes waiting on one at the server never reached it either.
        for (tag, request) in tags.pending where !request.sent { _ = tags.complete(tag) }
        flushWaiters.removeAll()
        // A request the client's own Tflush is already at the server for gets no second one: diod
        // keeps only the newest flush of a request and never answers the one it replaced, so the
        // cleanup would wait for that answer until drain-timeout. The client's flush does the job.
        let flushedByClient = Set(flushOfTarget.compactMap { tag, entry in tags.request(tag)?.serial == entry.serial ? tag : nil })
        flushOfTarget.removeAll()
        flushOfClientTag.removeAll()
        let toFlush = tags.pending.filter { tag, request in
            switch request.origin {
            case .client where !request.abandoned: request.type != .Tflush && !flushedByClient.contains(tag)
            case .own: request.type != .Tflush && !request.commitStep
            default: false
            }
        }
        // What waited on the gateway's own requests was the client's, and is abandoned with it;
        // a commit the client asked for finishes.
        ownReplies = ownReplies.filter { tags.request($0.key)?.commitStep == true }
        forgetSplits()
        tags.abandonAll()
        fids.forgetClientFids()
        for (tag, _) in toFlush {
            var flush = PendingRequest(origin: .gateway, type: .Tflush, serial: tags.makeSerial())
            if let target = tags.request(tag) { flush.flushTarget = (tag, target.serial) }
            guard let flushTag = tags.add(flush) else { break }
            sendToBackend(.flush(Tflush(oldtag: tag)), tag: flushTag)
        }
    }

    /// Moves a reset or a drain on once nothing is in flight: clunk every backend fid, then either
    /// renegotiate (reset) or close the backend (drain).
    func advanceCleanup() {
        switch phase {
        case .resetting, .draining:
            break
        default:
            return
        }
        guard tags.outstanding == 0 else { return }
        let live = fids.liveBackendFids.count
        if live > 0 && live < cleanupLiveBefore ?? Int.max {
            cleanupLiveBefore = live
            for backendFid in fids.liveBackendFids.sorted() {
                // A file a Blue fid created and never committed goes with its fid (a rollback).
                let removes = blueRemoveAtCleanup.remove(backendFid) != nil
                var request = PendingRequest(origin: .gateway, type: removes ? .Tremove : .Tclunk, serial: tags.makeSerial())
                request.releasedBackendFid = backendFid
                guard let tag = tags.add(request) else { break }
                sendToBackend(removes ? .remove(Tremove(fid: backendFid)) : .clunk(Tclunk(fid: backendFid)), tag: tag)
            }
            return
        }
        cleanupLiveBefore = nil
        switch phase {
        case let .resetting(clientTag, requested, version):
            startVersion(clientTag: clientTag, msize: requested, version: version)
        case .draining:
            phase = .closed
            host.closeBackend()
        default:
            break
        }
    }
}
