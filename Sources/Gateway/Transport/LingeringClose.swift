import CLibUV
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Closes a connection to a file server without resetting it: our side is shut down for writing,
/// what the server still sends is read and dropped until it closes its side (or `lingerMilliseconds`
/// pass), and only then is the socket closed.
///
/// Why: closing a socket that has unread data, or that receives more, sends the peer a reset, and a
/// server writing replies to a reset connection gets EPIPE, or SIGPIPE. diod 1.0.24 started from a
/// shell dies of it (exit 141), and with it every session it serves. The gateway closes a server
/// connection while replies may still come when a client leaves mid-frame, a cleanup or a reset
/// times out, or the server broke the protocol.
final class LingeringClose {
    private let fd: Int32
    private let poll: UnsafeMutablePointer<uv_poll_t>
    private var timer: LoopTimer?
    private var finished = false

    /// The longest a closed server connection is drained before it is closed anyway.
    static let lingerMilliseconds: UInt64 = 30_000

    /// Takes over `fd` (a duplicate of the connection's socket, which its owner then closes as
    /// usual): shuts the socket down for writing and drains it. Closes `fd` at once if it cannot.
    @discardableResult
    static func start(fd: Int32, loop: EventLoop) -> LingeringClose? {
        guard fd >= 0 else { return nil }
        guard shutdown(fd, Int32(SHUT_WR)) == 0 else {
            Foundation.close(fd)   // not connected (any more): nothing to drain
            return nil
        }
        let poll = UnsafeMutablePointer<uv_poll_t>.allocate(capacity: 1)
        guard uv_poll_init(loop.raw, poll, fd) == 0 else {
            poll.deallocate()
            Foundation.close(fd)
            return nil
        }
        let linger = LingeringClose(fd: fd, poll: poll)
        poll.pointee.data = Unmanaged.passRetained(linger).toOpaque()
        linger.timer = loop.schedule(after: lingerMilliseconds) { [linger] in linger.finish() }
        uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { handle, status, _ in
            guard let handle, let data = handle.pointee.data else { return }
            let linger = Unmanaged<LingeringClose>.fromOpaque(data).takeUnretainedValue()
            if status < 0 { linger.finish() } else { linger.drain() }
        }
        return linger
    }

    private init(fd: Int32, poll: UnsafeMutablePointer<uv_poll_t>) {
        self.fd = fd
        self.poll = poll
    }

    /// Reads and drops what is there, at most 1 MiB per event (a server that keeps sending must not
    /// hold the loop); finishes at the server's EOF or an error.
    private func drain() {
        var budget = 1 << 20
        while !finished && budget > 0 {
            let count = scratch.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            if count > 0 { budget -= count; continue }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            return finish()
        }
    }

    private var scratch = [UInt8](repeating: 0, count: 65_536)

    private func finish() {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        timer = nil
        uv_poll_stop(poll)
        closeOwnedHandle(pebble_poll_handle(poll))
        Foundation.close(fd)
    }
}
