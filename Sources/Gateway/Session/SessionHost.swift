import NineP
import Pebble

/// What a `ProxySession` asks of the sockets around it. The session never touches a socket itself,
/// so its state machine is tested with an in-memory host.
protocol SessionHost: AnyObject {
    /// Queues a whole frame for the backend.
    func sendToBackend(_ frame: UnsafeRawBufferPointer)
    /// Whether a frame's data may follow its head straight from a file (`sendToBackend(_:data:)`).
    var sendsFileData: Bool { get }
    /// Queues a frame's head for the backend, its data to follow from a file (sendfile: never
    /// through user space). Only when `sendsFileData`.
    func sendToBackend(_ head: UnsafeRawBufferPointer, data: FileData)
    /// Queues a whole frame for the client.
    func sendToClient(_ frame: UnsafeRawBufferPointer)
    /// The client broke the protocol beyond repair: flush what is queued for it, then close it.
    func closeClient(reason: String)
    /// Every backend fid is clunked and no reply is pending: the backend connection may close.
    func closeBackend()
    /// The gateway answered a request with an error itself (for the log: the reply's text is short).
    func refused(_ error: ProxyError, tag: UInt16)
    /// A security event, for the audit log (the host adds time, session, peer and identity).
    func audit(_ event: AuditEvent)
    /// Who the client is (a token's `client` caveat checks it) and the address it connects from
    /// (a `from` caveat), without port.
    var clientIdentity: ClientIdentity { get }
    var peerHost: String? { get }
    /// The name of the backend the session reaches: its TLS route's, or `default`.
    var backendName: String { get }
    /// Held requests wait for the rate limits: call `ProxySession.sendHeld` in `seconds`.
    func wake(after seconds: Double)
    /// A token presented at attach was accepted (refusals are audit events).
    func tokenAccepted()
    /// A valid token is about to attach: a client without a verified certificate is budgeted as
    /// the token (`token:ID`) from its first such attach on. Nil, or the error to refuse the attach
    /// with (the token already has `max-conns-per-client` sessions).
    func attaching(withToken id: String) -> ProxyError?
    /// A Blue event for the metrics; a failed commit also for the log.
    func blueCounted(_ counter: ProxySession.BlueCounter)
    func blueCommitFailed(_ error: ProxyError, bytes: Int)
    /// Something about a commit the log should say (a replace given up for a commit in place, a
    /// stale temporary removed), with the file's path below the attach point.
    func blueNote(_ text: String, path: String)
    /// A temporary its session may not be able to remove (`OrphanedTemporaries`), and whether a
    /// name is one (the sweep then removes it at once); `temporaryRemoved` forgets it.
    func temporaryOrphaned(_ name: String)
    func isOrphanedTemporary(_ name: String) -> Bool
    func temporaryRemoved(_ name: String)
    /// The server answered a client request of `type` `seconds` after it was sent (the latency
    /// histogram), with an error reply if `failed`.
    func serverAnswered(_ type: MessageType, after seconds: Double, failed: Bool)
}

/// Counters for the session's close log line.
struct SessionStats {
    var requests = 0
    var replies = 0
    var bytesFromClient = 0
    var bytesToClient = 0
    var errorsByGateway = 0
    /// Requests that waited in the gateway for room at the server (max-inflight, reply budget).
    var held = 0
    /// Client reads and writes sent to the server as pieces (msize bridging).
    var splitRequests = 0
    /// Reads made ahead, and client reads they answered.
    var readAheadReads = 0
    var readAheadHits = 0
}

/// A frame's data in a file: `count` bytes of `fd` from `offset`; `owner` keeps the fd open.
struct FileData {
    let owner: AnyObject
    let fd: Int32
    let offset: UInt64
    let count: Int
}
