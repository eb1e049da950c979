import NineP
import Pebble

/// `--backend-timeout`: a request the server has not answered in time is answered EIO by the
/// gateway and flushed at the server; a server that does not answer that flush in time either
/// ends the session.
extension ProxySession {
    /// Times out what has been at the server for `backendTimeout` seconds or more. Returns false
    /// when a flush the gateway sent for such a request has itself gone unanswered that long: the
    /// server is not answering, and the host should end the session.
    func expireRequests() -> Bool {
        let timeout = access.backendTimeout
        guard phase == .active, timeout > 0 else { return true }
        let now = access.monotonicNow()
        let late = tags.pending.filter { _, request in
            request.sent && !request.abandoned && (request.sentAt.map { now - $0 >= timeout } ?? false)
        }
        for (tag, request) in late.sorted(by: { $0.key < $1.key }) {
            switch request.origin {
            case .gateway where request.type == .Tflush:
                return false
            case let .client(clientTag) where request.type != .Tflush:
                timeOut(tag, request)
                refuse(.backendTimeout, tag: clientTag, subject: nil)
            case .own:
                // Flushed like a client's; what waited on it (a token's attach, say) hears of it as
                // of a reply that said nothing, so a client waiting behind it gets its error too.
                let continuation = ownReplies.removeValue(forKey: tag)
                timeOut(tag, request)
                continuation?.fail()
            default:
                break
            }
        }
        return true
    }

    /// The client was answered for this request: its reply will be dropped, the fids it would have
    /// made or changed are taken from the client (what the server did is unknown; the server's
    /// fid is clunked at the end), and the server is asked to flush it.
    private func timeOut(_ tag: UInt16, _ request: PendingRequest) {
        tags.abandon(tag)
        if let client = request.createdClientFid, let backend = request.createdBackendFid { fids.orphan(clientFid: client, backendFid: backend) }
        if let changed = request.changedFid { fids.orphan(clientFid: changed.client, backendFid: changed.backend) }
        if let client = request.releasedClientFid, let backend = request.releasedBackendFid { fids.orphan(clientFid: client, backendFid: backend) }
        var flush = PendingRequest(origin: .gateway, type: .Tflush, serial: tags.makeSerial())
        flush.flushTarget = (tag, request.serial)
        flush.sentAt = access.monotonicNow()
        guard let flushTag = tags.add(flush) else { return }
        sendToBackend(.flush(Tflush(oldtag: tag)), tag: flushTag)
    }
}
