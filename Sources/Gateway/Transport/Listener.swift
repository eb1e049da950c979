import CLibUV
import CShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket polled by one loop. Each loop has its own, bound with SO_REUSEPORT to
/// the same address, so accepting never crosses threads.
final class Listener {
    let fd: Int32
    private let poll: UnsafeMutablePointer<uv_poll_t>
    private let loop: EventLoop
    private let slots: SessionSlots
    /// This loop's index: its place in `slots`' line.
    private let loopIndex: Int
    private let onAccept: (Int32) -> Void
    private let onPause: (AcceptPause) -> Void
    private var closed = false
    private var polling = false
    /// The pending retry after a pause: one at a time, however often the loop pauses meanwhile.
    private var retry: LoopTimer?
    /// Set while accepting waits for a session slot, or for the sessions' memory to fall below
    /// `--max-memory`, so the pause is reported once, not per retry.
    private var waitingForSlot = false
    private var waitingForMemory = false
    /// When the limit was last reported, and how often it was reached since: under a steady
    /// stream of connections it is reached again with nearly every one that ends a wait.
    private var limitReported: ContinuousClock.Instant?
    private var limitReachedUnreported = 0
    private static let limitReportInterval = Duration.seconds(10)
    /// How long accepting pauses when the process is out of fds or memory, or polls again while
    /// waiting for a session slot (which `slotFreed` normally ends first).
    private static let pauseMilliseconds: UInt64 = 100

    /// Binds and listens; `address` must already carry a concrete port when several loops share it.
    static func bind(_ address: SocketAddress) throws(ListenError) -> Int32 {
        let fd = pebble_stream_socket(address.family)
        guard fd >= 0 else { throw ListenError(address: address.description, errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = address.withSockaddr { Foundation.bind(fd, $0, $1) }
        guard bound == 0, listen(fd, 1024) == 0 else {
            let error = errno
            Foundation.close(fd)
            throw ListenError(address: address.description, errno: error)
        }
        return fd
    }

    /// Fails with EADDRINUSE when something already listens on `address`. SO_REUSEPORT lets any
    /// socket of the same user join a port, so a second gateway started by mistake would bind
    /// without error and take half the clients; a probe bound without SO_REUSEPORT cannot join a
    /// listener, so it finds one. (SO_REUSEADDR keeps a restart from tripping on TIME_WAIT.)
    static func ensureUnused(_ address: SocketAddress) throws(ListenError) {
        let fd = pebble_stream_socket(address.family)
        guard fd >= 0 else { throw ListenError(address: address.description, errno: errno) }
        defer { Foundation.close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard address.withSockaddr({ Foundation.bind(fd, $0, $1) }) == 0 else {
            throw ListenError(address: address.description, errno: errno)
        }
    }

    /// The port a bound socket got (for port 0).
    static func boundPort(_ fd: Int32) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    /// Each accepted connection holds one of `slots`, given back by whoever ends its session; the
    /// loop's owner calls `slotFreed` when `slots` wakes it. `onPause` hears why accepting stops
    /// for a moment: an errno (out of fds or memory, or a poll error), or every slot taken.
    init(loop: EventLoop, loopIndex: Int, fd: Int32, slots: SessionSlots, onAccept: @escaping (Int32) -> Void,
         onPause: @escaping (AcceptPause) -> Void) {
        self.fd = fd
        self.loop = loop
        self.loopIndex = loopIndex
        self.slots = slots
        self.onAccept = onAccept
        self.onPause = onPause
        poll = .allocate(capacity: 1)
        uv_poll_init(loop.raw, poll, fd)
        poll.pointee.data = Unmanaged.passRetained(self).toOpaque()
        resume()
    }

    /// Stops accepting for good and closes the listening socket. (The loop's owner takes it out
    /// of `slots`' line once all its listeners are closed.)
    func close() {
        guard uv_is_closing(pebble_poll_handle(poll)) == 0 else { return }
        closed = true
        retry?.cancel()
        retry = nil
        uv_poll_stop(poll)
        closeOwnedHandle(pebble_poll_handle(poll))
        Foundation.close(fd)
    }

    /// A session slot is this loop's to take (it was first in line): accept now, and poll again.
    func slotFreed() {
        guard !closed else { return }
        resume()
        acceptAll()
    }

    /// Polls (again): at the start and after a pause. (A no-op while polling: restarting a uv_poll
    /// costs two epoll_ctl calls.)
    private func resume() {
        guard !closed, !polling else { return }
        polling = true
        uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { handle, status, _ in
            guard let handle, let data = handle.pointee.data else { return }
            let listener = Unmanaged<Listener>.fromOpaque(data).takeUnretainedValue()
            if status == 0 { listener.acceptAll() } else { listener.pause(.error(-status)) }
        }
    }

    /// Stops polling for a moment, then tries again: a pending connection stays readable, so
    /// without a pause the loop would spin. (On a poll error libuv has stopped the handle already;
    /// without a retry this loop would never accept again.)
    private func pause(_ reason: AcceptPause?) {
        uv_poll_stop(poll)
        polling = false
        if let reason { onPause(reason) }
        guard retry == nil else { return }
        retry = loop.schedule(after: Self.pauseMilliseconds) { [weak self] in
            self?.retry = nil
            self?.resume()
        }
    }

    /// The limit was reached again: the pause to report, at most one per `limitReportInterval`.
    private func reachedLimit() -> AcceptPause? {
        limitReachedUnreported += 1
        let now = ContinuousClock.now
        if let last = limitReported, now - last < Self.limitReportInterval { return nil }
        limitReported = now
        defer { limitReachedUnreported = 0 }
        return .sessionLimit(slots.limit, times: limitReachedUnreported)
    }

    private func acceptAll() {
        // Bounded per event so one loop cannot starve its sessions during a connection storm.
        // A connection beyond max-conns stays in the kernel's listen queue (as with HAProxy's
        // maxconn) rather than being accepted and dropped: it is served when a session ends.
        for _ in 0..<64 {
            if let memory = slots.memory, memory.isReached {
                // Polled again after the pause: memory coming free wakes no one.
                pause(waitingForMemory ? nil : .memoryCeiling(memory.limit, held: memory.held()))
                waitingForMemory = true
                return
            }
            waitingForMemory = false
            guard slots.take(loop: loopIndex) else {
                pause(waitingForSlot ? nil : reachedLimit())
                waitingForSlot = true
                return
            }
            waitingForSlot = false
            let client = pebble_accept_nonblocking(fd)
            if client < 0 {
                let error = errno
                slots.give()
                if error == EINTR || error == ECONNABORTED { continue }
                if error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM { pause(.error(error)) }
                return
            }
            onAccept(client)
        }
    }
}

/// Why a listener stopped accepting for a moment.
enum AcceptPause {
    case error(Int32)
    /// Every slot taken (`max-conns`), reached `times` times since the last report.
    case sessionLimit(Int, times: Int)
    /// The sessions hold `held` bytes, at or above `--max-memory`.
    case memoryCeiling(Int, held: Int)
}

struct ListenError: Error, CustomStringConvertible {
    let address: String
    let errno: Int32
    var description: String { "cannot listen on \(address): \(String(cString: strerror(errno)))" }
}

/// Options every proxied socket gets: no Nagle delay, since 9P is request/response.
func configureStreamSocket(_ fd: Int32, isTCP: Bool) {
    var one: Int32 = 1
    if isTCP {
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
}
