import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain non-blocking socket: read(2) and write(2) on the fd, and splice(2) allowed.
final class PlainTransport: Transport {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    var canSplice: Bool { true }
    var pendingBytes: Int { 0 }
    var isEstablished: Bool { true }
    var failureReason: String? { nil }

    func handshake() -> TransportResult { .done(0) }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult {
        while true {
            let count = Foundation.read(fd, buffer.baseAddress!, buffer.count)
            if count > 0 { return .done(count) }
            if count == 0 { return .end }
            let error = errno
            if error == EINTR { continue }
            return error == EAGAIN || error == EWOULDBLOCK ? .wouldBlock(.readable) : .failed(error)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> TransportResult {
        while true {
            let count = Foundation.write(fd, bytes.baseAddress!, bytes.count)
            if count >= 0 { return .done(count) }
            let error = errno
            if error == EINTR { continue }
            return error == EAGAIN || error == EWOULDBLOCK ? .wouldBlock(.writable) : .failed(error)
        }
    }

    var gathersWrites: Bool { false }
    func flushWrites() -> TransportResult { .done(0) }

    func close() { Foundation.close(fd) }
}
