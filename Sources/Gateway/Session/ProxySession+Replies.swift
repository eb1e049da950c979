import NineP
import Pebble

/// What the session sends the client: a server's reply passed on (`deliver`), and the replies
/// and requests the gateway makes itself, encoded in the session's dialect.
extension ProxySession {
    /// A server's reply to a client request, its tag the client's again; one that does not
    /// decode is answered with an error instead, one in another dialect's error form re-encoded.
    func deliver(_ frame: UnsafeMutableRawBufferPointer, header: FrameHeader, clientTag: UInt16, wellTyped: Bool,
                 payloadToFollow: Int) -> Bool {
        guard wellTyped else {
            reply(error: .badBackendReply, tag: clientTag)
            return false
        }
        if let dialect, let error = ProxyError.foreignError(UnsafeRawBufferPointer(frame), dialect: dialect) {
            // The server answered in another dialect's error form: re-encode it in the client's.
            stats.replies &+= 1
            sendToClient(error.reply(tag: clientTag, dialect: dialect))
            return false
        }
        FramePatch.setTag(clientTag, in: frame)
        stats.replies &+= 1
        stats.bytesToClient &+= frame.count &+ payloadToFollow
        host.sendToClient(UnsafeRawBufferPointer(frame))
        return true
    }

    // MARK: Replies made by the gateway

    /// A frame that cannot be read at all (its size is out of bounds): answer its tag before the
    /// connection is closed, so the client learns why.
    func rejectFrame(tag: UInt16, error: WireError) {
        reply(error: .malformed(error), tag: tag)
    }

    func reply(error: ProxyError, tag: UInt16) {
        host.refused(error, tag: tag)
        stats.errorsByGateway &+= 1
        stats.replies &+= 1
        sendToClient(error.reply(tag: tag, dialect: dialect ?? .plan9))
    }

    /// A reply the gateway makes itself, encoded by the codec in the session's dialect.
    func sendToClient(_ message: RMessage, tag: UInt16) {
        stats.replies &+= 1
        sendToClient(Frame(tag: tag, message: message).encode(dialect: dialect ?? .plan9))
    }

    /// A request the gateway makes itself (version, cleanup flushes and clunks).
    func sendToBackend(_ message: TMessage, tag: UInt16) {
        Frame(tag: tag, message: message).encode(dialect: dialect ?? .linux).withUnsafeBytes { host.sendToBackend($0) }
    }

    func sendToClient(_ bytes: [UInt8]) {
        stats.bytesToClient &+= bytes.count
        bytes.withUnsafeBytes { host.sendToClient($0) }
    }
}
