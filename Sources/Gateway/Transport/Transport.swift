/// What one read, write or handshake step on a `Transport` did.
enum TransportResult: Equatable {
    /// Bytes moved (a handshake step that finished reports 0).
    case done(Int)
    /// Nothing can move until the socket is readable or writable: TLS may need to read in order to
    /// write (a key update) or write in order to read, so a read can wait for writability.
    case wouldBlock(TransportWait)
    /// The peer closed the stream (EOF, or TLS close_notify).
    case end
    /// The stream failed; the errno (or EPROTO for a TLS failure).
    case failed(Int32)
}

/// The socket event a blocked transport operation waits for.
enum TransportWait: Equatable {
    case readable
    case writable
}

extension Transport {
    /// Why the stream failed, for a session's close line ("TLS handshake failed: …" before it was
    /// established, "TLS: …" after); nil when it did not fail.
    var failureSummary: String? {
        failureReason.map { isEstablished ? "TLS: \($0)" : "TLS handshake failed: \($0)" }
    }
}

/// The byte stream under a `Connection`: a plain socket, or TLS over one. A `Connection` owns
/// the fd's poll handle and buffers; the transport only says how bytes move, and what it can do.
/// (HAProxy's `xprt_ops` is the model: its TLS layer offers no pipe operations.)
protocol Transport: AnyObject {
    /// The socket underneath, for polling and, when `canSplice`, for splice(2).
    var fd: Int32 { get }
    /// Whether payload bytes may go socket to socket with splice(2). A TLS stream's bytes are
    /// records the library must see, so splicing is switched off there, not broken.
    var canSplice: Bool { get }
    /// Bytes the transport has already taken off the socket and holds for `read` (TLS:
    /// SSL_pending). The poll does not report them: a reader must drain them before it waits.
    var pendingBytes: Int { get }
    /// Whether the stream is ready for `read` and `write` (a plain socket always is; TLS once its
    /// handshake has finished).
    var isEstablished: Bool { get }
    /// Why the stream failed, in the library's words (TLS), for the log; nil for a plain socket.
    var failureReason: String? { get }
    /// One step of the handshake: `.done(0)` once established.
    func handshake() -> TransportResult
    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult
    func write(_ bytes: UnsafeRawBufferPointer) -> TransportResult
    /// Whether `write` may keep accepted bytes back, to go out together at `flushWrites` (TLS
    /// gathers its records so that a 64 KiB frame is one write(2), not five).
    var gathersWrites: Bool { get }
    /// Puts what `write` kept back on the socket: `.done(0)` once all of it is there.
    func flushWrites() -> TransportResult
    /// Ends the stream and closes the fd (TLS sends close_notify first, if it can at once).
    func close()
}
