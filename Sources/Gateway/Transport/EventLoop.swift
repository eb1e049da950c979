import CLibUV
import Foundation
import Synchronization

/// One libuv loop on its own thread. A session lives its whole life on one loop, so nothing on the
/// request path takes a lock. The gateway runs one loop per core, each with its own SO_REUSEPORT
/// listening socket: the kernel spreads connections over them, and no fd ever changes threads.
final class EventLoop {
    let raw: UnsafeMutablePointer<uv_loop_t>
    /// Pipes for splicing payloads between this loop's sockets.
    let pipes = PipePool()
    /// Sessions connecting to the file server, a few at a time.
    let connectGate: ConnectGate
    /// Which of the process's loops this is (0 for the first; in every session's log lines).
    let index: Int

    /// `connectLimit`: this loop's share of the connects that may wait on the server at once.
    init(index: Int = 0, connectLimit: Int) {
        self.index = index
        connectGate = ConnectGate(limit: connectLimit)
        raw = .allocate(capacity: 1)
        let status = uv_loop_init(raw)
        precondition(status == 0, "uv_loop_init failed: \(status)")
    }

    /// Runs until no handle is left.
    func run() {
        uv_run(raw, UV_RUN_DEFAULT)
    }

    /// Calls `body` after `milliseconds` on this loop, once. The returned timer may be cancelled.
    func schedule(after milliseconds: UInt64, _ body: @escaping () -> Void) -> LoopTimer {
        LoopTimer(loop: self, milliseconds: milliseconds, body: body)
    }
}

/// A one-shot libuv timer. The closure and the handle are released when the handle closes.
final class LoopTimer {
    private let handle: UnsafeMutablePointer<uv_timer_t>
    private var body: (() -> Void)?
    private var closed = false

    fileprivate init(loop: EventLoop, milliseconds: UInt64, body: @escaping () -> Void) {
        self.body = body
        handle = .allocate(capacity: 1)
        uv_timer_init(loop.raw, handle)
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        uv_timer_start(handle, { timer in
            guard let timer, let data = timer.pointee.data else { return }
            let this = Unmanaged<LoopTimer>.fromOpaque(data).takeUnretainedValue()
            let body = this.body
            this.cancel()
            body?()
        }, milliseconds, 0)
    }

    /// Stops the timer; the body will not run.
    func cancel() {
        guard !closed else { return }
        closed = true
        body = nil
        uv_timer_stop(handle)
        closeOwnedHandle(pebble_timer_handle(handle))
    }
}

/// Wakes a loop from another thread (`uv_async_send` is the only libuv call that may be made off
/// the loop's thread). The body runs on the loop. Create it before the loop starts running.
/// A send racing the close is dropped, never made on a closing handle.
final class LoopWakeup: @unchecked Sendable {
    private let handle: UnsafeMutablePointer<uv_async_t>
    private let body: () -> Void
    private let closed = Mutex(false)

    init(loop: EventLoop, body: @escaping () -> Void) {
        self.body = body
        handle = .allocate(capacity: 1)
        uv_async_init(loop.raw, handle) { async in
            guard let async, let data = async.pointee.data else { return }
            Unmanaged<LoopWakeup>.fromOpaque(data).takeUnretainedValue().body()
        }
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// Safe from any thread, also once closed.
    func send() {
        closed.withLock { closed in
            if !closed { uv_async_send(handle) }
        }
    }

    /// Closes the handle on the loop's thread, so the loop can end when nothing else is left.
    func close() {
        let wasOpen = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        if wasOpen { closeOwnedHandle(pebble_async_handle(handle)) }
    }
}
