@testable import Gateway
import Foundation
import NineP
import Pebble

/// An in-memory `SessionHost`: records every frame the session sends to either side, as bytes, and
/// every close it asks for. Nothing is ever written to a socket.
final class RecordingHost: SessionHost {
    var toBackend: [[UInt8]] = []
    var toClient: [[UInt8]] = []
    var closeClientReasons: [String] = []
    var closeBackendCalls = 0

    func sendToBackend(_ frame: UnsafeRawBufferPointer) { toBackend.append(Array(frame)) }
    /// Whether frames may take their data from a file (recorded whole, the data read from it).
    var sendsFileData = false
    private(set) var fileDataSent = 0
    func sendToBackend(_ head: UnsafeRawBufferPointer, data: FileData) {
        var bytes = [UInt8](repeating: 0, count: data.count)
        _ = bytes.withUnsafeMutableBytes { pread(data.fd, $0.baseAddress!, data.count, off_t(data.offset)) }
        toBackend.append(Array(head) + bytes)
        fileDataSent += data.count
    }
    func sendToClient(_ frame: UnsafeRawBufferPointer) { toClient.append(Array(frame)) }
    func closeClient(reason: String) { closeClientReasons.append(reason) }
    func closeBackend() { closeBackendCalls += 1 }
    var refusals: [ProxyError] = []
    func refused(_ error: ProxyError, tag: UInt16) { refusals.append(error) }
    var events: [AuditEvent] = []
    func audit(_ event: AuditEvent) { events.append(event) }
    var latencies: [Double] = []
    var serverErrors: [MessageType] = []
    func serverAnswered(_ type: MessageType, after seconds: Double, failed: Bool) {
        latencies.append(seconds)
        if failed { serverErrors.append(type) }
    }
    var clientIdentity = ClientIdentity.peer("127.0.0.1:40000")
    var peerHost: String? = "127.0.0.1"
    var backendName = "default"
    var wakeRequests: [Double] = []
    func wake(after seconds: Double) { wakeRequests.append(seconds) }
    var tokensAccepted = 0
    func tokenAccepted() { tokensAccepted += 1 }
    var blueCounts: [ProxySession.BlueCounter] = []
    func blueCounted(_ counter: ProxySession.BlueCounter) { blueCounts.append(counter) }
    var commitFailures: [ProxyError] = []
    func blueCommitFailed(_ error: ProxyError, bytes: Int) { commitFailures.append(error) }
    var blueNotes: [String] = []
    var orphans: Set<String> = []
    func temporaryOrphaned(_ name: String) { orphans.insert(name) }
    func isOrphanedTemporary(_ name: String) -> Bool { orphans.contains(name) }
    func temporaryRemoved(_ name: String) { orphans.remove(name) }
    func blueNote(_ text: String, path: String) { blueNotes.append("\(text): \(path)") }
    var tokenAttaches: [String] = []
    var tokenAttachRefusal: ProxyError?
    func attaching(withToken id: String) -> ProxyError? {
        tokenAttaches.append(id)
        return tokenAttachRefusal
    }
}
