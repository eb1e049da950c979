import NineP
import Pebble

/// Requests waiting for room at the server, and the gateway's own requests with their continuations.
extension ProxySession {
    /// Sends held requests, in order, while the server has room and the rates allow. The host
    /// calls it when replies may have made room, its own queues have space (the replies would
    /// otherwise only wait), or the rate limits woke it.
    func sendHeld() {
        while phase == .active, canSendNow, let next = held.popFirst() {
            if let request = tags.request(next.tag), case let .client(clientTag) = request.origin, !request.abandoned,
               request.replyBytes > 0, let error = admitBytes(request.replyBytes, type: request.type) {
                // Its reply would pass the quota: refused now, as it would have been when it came.
                dropHeld(next.tag)
                refuse(error, tag: clientTag, subject: nil)
                continue
            }
            tags.markSent(next.tag)
            sending(next.tag)
            next.bytes.withUnsafeBytes { host.sendToBackend($0) }
        }
        if phase == .active { wakeWhenPaced() }
    }

    /// A backend fid number for the gateway's own next request to create (`sendOwn`'s `creates`).
    func newBackendFid() -> UInt32 { fids.allocateBackendFid() }

    /// Sends a request of the gateway's own on this session, or holds it like the client's until the
    /// server has room; `then` gets the reply, whole and decoded (nil when it was malformed or of
    /// the wrong type), unless the session ends or resets first (what waited on it is abandoned
    /// then). Its fids are backend fids: a new one (`creates`, from `fids.allocateBackendFid()`)
    /// lives once the reply says so and is clunked at cleanup like the client's; `releases` is
    /// gone after the reply. Returns false when the session is not active or every tag is in use.
    /// A `commitStep` (Blue's commit) is sent at once, never held, and also while the session
    /// drains or resets: the client asked for the commit, which finishes.
    @discardableResult
    /// With `data` (a commit step's Twrite, encoded without its data), the data follows the frame's
    /// head from a file (`SessionHost.sendToBackend(_:data:)`).
    func sendOwn(_ message: TMessage, creates: UInt32? = nil, releases: UInt32? = nil, commitStep: Bool = false,
                 data: FileData? = nil, then continuation: @escaping (RMessage?) -> Void) -> Bool {
        guard phase == .active || (commitStep && (phase == .draining || isResetting)), let dialect else { return false }
        var request = PendingRequest(origin: .own, type: message.type, serial: tags.makeSerial())
        request.commitStep = commitStep
        request.createdBackendFid = creates
        request.releasedBackendFid = releases
        request.usedBackendFids = message.fids.map(\.value).filter { $0 != creates && $0 != NineP.noFid }
        if case let .walk(walk) = message { request.walkNames = walk.wnames.count }
        request.sent = commitStep || (held.isEmpty && roomAtServer)
        return registerOwn(request, reply: .decoded(continuation), data: data) { tag in
            var frame = Frame(tag: tag, message: message).encode(dialect: dialect)
            if let data {
                // The head of a Twrite whose data follows: its size and count say the data's.
                frame.withUnsafeMutableBytes { head in
                    FramePatch.setU32(UInt32(head.count &+ data.count), at: 0, in: head)
                    FramePatch.setU32(UInt32(data.count), at: NineP.ioCountOffset, in: head)
                }
            }
            return frame
        } != nil
    }

    /// What waits for the reply to one of the gateway's own requests: the reply decoded, or (a
    /// piece of a split read or write, `+Bridging`) its frame as it came, whose data is then
    /// copied once, to where it goes.
    enum OwnReply {
        case decoded((RMessage?) -> Void)
        case frame((UnsafeRawBufferPointer?) -> Void)

        /// No reply will come (flushed, timed out): told as a reply that said nothing.
        func fail() {
            switch self {
            case let .decoded(continuation): continuation(nil)
            case let .frame(continuation): continuation(nil)
            }
        }
    }

    /// Registers one of the gateway's own requests and sends it, or holds it when `request.sent`
    /// says it waits; `encode` makes its frame under the backend tag it gets. Returns the tag, nil
    /// when every tag is in use.
    /// With `data`, the frame is a head its data follows from a file (the request is sent at once).
    func registerOwn(_ request: PendingRequest, reply: OwnReply, data: FileData? = nil, encode: (UInt16) -> [UInt8]) -> UInt16? {
        precondition(data == nil || request.sent, "file data goes at once, never held")
        guard let tag = tags.add(request) else {
            undo(request)
            return nil
        }
        fids.beginUse(request.usedBackendFids)
        ownReplies[tag] = reply
        let frame = encode(tag)
        if request.sent {
            sending(tag)
            frame.withUnsafeBytes { head in
                if let data { host.sendToBackend(head, data: data) } else { host.sendToBackend(head) }
            }
        } else {
            stats.held &+= 1
            frame.withUnsafeBytes { held.append(tag: tag, frame: $0) }
            wakeWhenPaced()
        }
        return tag
    }

    /// A held request leaves without reaching the server: as if the server had flushed it.
    func dropHeld(_ backendTag: UInt16) {
        guard let request = tags.complete(backendTag) else { return }
        if let backendFid = request.releasedBackendFid, releasesWaiting[backendFid]?.tag == backendTag {
            releasesWaiting[backendFid] = nil
        }
        undo(request)
        ended(request)
    }

    /// A request is done (answered, flushed, or dropped before it was sent): the fids it named are
    /// free of it, and a release that waited for them goes on (straight to the server, or held
    /// behind what already waits for room there).
    func ended(_ request: PendingRequest) {
        if let changed = request.changedFid, Self.changesFidInPlace.contains(request.type) {
            let left = (kindChanging[changed.backend] ?? 1) - 1
            kindChanging[changed.backend] = left > 0 ? left : nil
        }
        fids.endUse(request.usedBackendFids)
        // Not while a reset or the drain abandons what is outstanding: it drops these too.
        guard phase == .active, !releasesWaiting.isEmpty else { return }
        let freed = request.usedBackendFids.compactMap { backendFid in
            fids.useCount(backendFid) == 1 ? releasesWaiting.removeValue(forKey: backendFid) : nil
        }
        // In the order they came (by backend tag), so what goes on is predictable.
        for waiting in freed.sorted(by: { $0.tag < $1.tag }) {
            if held.isEmpty && canSendNow {
                tags.markSent(waiting.tag)
                sending(waiting.tag)
                waiting.bytes.withUnsafeBytes { host.sendToBackend($0) }
            } else {
                waiting.bytes.withUnsafeBytes { held.append(tag: waiting.tag, frame: $0) }
            }
        }
    }
}
