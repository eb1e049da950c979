import CLibUV
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a `Connection` reports to whoever owns it. Calls come from inside libuv callbacks, never
/// synchronously from a method the owner called.
protocol ConnectionDelegate: AnyObject {
    /// New bytes are in `connection.input`.
    func connectionDidRead(_ connection: Connection)
    /// The output queue emptied after a write had to wait.
    func connectionDidDrain(_ connection: Connection)
    /// The connection closed (EOF, an error, or `close()`); `error` is an errno when there was one.
    func connectionDidClose(_ connection: Connection, error: Int32?)
    /// A payload splice waiting on this connection may go on: it became readable (as the splice's
    /// source) or writable with nothing queued ahead of the payload (as its target).
    func connectionCanSplice(_ connection: Connection)
    /// The transport's handshake finished (TLS); bytes move from now on.
    func connectionDidEstablish(_ connection: Connection)
}

extension ConnectionDelegate {
    func connectionDidEstablish(_ connection: Connection) {}
}

/// A non-blocking socket fd driven by a `uv_poll_t`, moving bytes through its `Transport`
/// (the plain socket, or TLS over it).
///
/// Why `uv_poll_t` and not `uv_tcp_t`: libuv forbids one fd in both, and the gateway must call
/// `read`/`write`/`splice` on the fd itself, to rewrite frames in place in its own buffers and to
/// splice payloads between sockets without copying them through user space. `uv_tcp_t` would own
/// the reads and hand over buffers we cannot splice from.
final class Connection {
    let transport: any Transport
    var fd: Int32 { transport.fd }
    let input: ByteBuffer
    let output: ByteBuffer
    weak var delegate: ConnectionDelegate?

    private let poll: UnsafeMutablePointer<uv_poll_t>
    private let loop: EventLoop
    private var connecting: Bool
    /// The transport's handshake is under way: nothing is read or written meanwhile.
    private var handshaking: Bool
    /// What the handshake's next step waits for. The first step waits for writability, so that
    /// it runs from a poll callback, never inside the owner's call to `start()`.
    private var handshakeWaitsFor = TransportWait.writable
    private var waitingToWrite = false
    /// The transport accepted bytes it has not put on the socket yet (`gathersWrites`).
    private var transportHoldsBytes = false
    /// What the blocked write waits for (TLS may need to read to write).
    private var writeWaitsFor = TransportWait.writable
    /// A read that needs the socket writable first (TLS may need to write to read).
    private var readWaitsForWritable = false
    /// Closed by shutting down our side and draining the peer's (`LingeringClose`), never with a
    /// reset: set for file server connections.
    var lingersOnClose = false
    /// A read of bytes the transport already holds (`pendingBytes`) is scheduled.
    private var pendingReadTimer: LoopTimer?
    private var armedEvents: Int32 = -1
    private(set) var isClosed = false
    private var closeWhenFlushed = false
    /// Whether the owner wants bytes read (backpressure clears it).
    private(set) var readingEnabled = true
    /// A payload is being spliced out of this socket: nothing is read into `input` meanwhile.
    private(set) var isSpliceSource = false
    private var spliceWantsReadable = false
    /// A payload is being spliced into this socket: only this many queued bytes (those ahead of
    /// the payload) may still be written; bytes queued later wait for `endSpliceTarget()`.
    private var bytesAheadOfSplice: Int?
    private var spliceWantsWritable = false
    /// Bytes of files to send after the output queued before each (`enqueueFile`), in order.
    private var fileSegments: [FileSegment] = []
    /// Output bytes queued since the last file segment (those go after it).
    private var queuedSinceLastFile = 0

    /// Bytes read per readable event before yielding to other sockets on the loop.
    private static let readBudget = 1 << 20
    /// Buffers start this small, so an idle session costs little memory, and return to it when idle.
    static let smallBuffer = 16 * 1024
    /// A buffer larger than this is given back once it empties.
    private static let largeBuffer = 256 * 1024
    /// Bytes asked of one read(2): doubles while reads fill it (bulk transfer), up to 1 MiB.
    private var readSize = Connection.smallBuffer

    /// Fails (leaving `fd` to the caller) when libuv cannot watch the fd, e.g. out of memory or
    /// of epoll watches: that one connection is refused, not the whole process stopped.
    init(loop: EventLoop, transport: any Transport, connecting: Bool = false) throws(ConnectionError) {
        let poll = UnsafeMutablePointer<uv_poll_t>.allocate(capacity: 1)
        let status = uv_poll_init(loop.raw, poll, transport.fd)
        guard status == 0 else {
            // libuv initialises nothing before its checks pass, so there is nothing to close.
            poll.deallocate()
            throw ConnectionError(errno: -status)
        }
        self.poll = poll
        self.loop = loop
        self.transport = transport
        self.connecting = connecting
        handshaking = !transport.isEstablished
        input = ByteBuffer(capacity: Self.smallBuffer)
        output = ByteBuffer(capacity: Self.smallBuffer)
        poll.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// Arms the poll. Call once the delegate is set.
    func start() { updateInterest() }

    func setReading(_ enabled: Bool) {
        guard enabled != readingEnabled else { return }
        readingEnabled = enabled
        updateInterest()
        readPendingLater()
    }

    /// Whether payloads may be spliced out of or into this connection.
    var canSplice: Bool { transport.canSplice }

    /// Frames at least this large are written straight from the caller's buffer when nothing is
    /// queued ahead of them, saving a copy of the payload; smaller ones are queued so that a burst
    /// of them leaves in one write.
    static let writeThroughThreshold = 16 * 1024

    /// Queues bytes (or writes a large frame at once, unless `writeThrough` is false because more
    /// is about to follow); queued bytes go out on the next `flush()`.
    func enqueue(_ bytes: UnsafeRawBufferPointer, writeThrough: Bool = true) {
        guard !isClosed else { return }
        var pending = bytes
        if writeThrough && output.isEmpty && fileSegments.isEmpty && !connecting && !handshaking && bytesAheadOfSplice == nil
            && bytes.count >= Self.writeThroughThreshold,
           case let .done(written) = transport.write(bytes) {
            if transport.gathersWrites && written > 0 { transportHoldsBytes = true }
            if written == bytes.count { return }
            // A short write: queue the rest. EAGAIN queues it all; a real error shows up at the next flush.
            pending = UnsafeRawBufferPointer(rebasing: bytes[written...])
        }
        output.append(pending)
        if !fileSegments.isEmpty { queuedSinceLastFile &+= pending.count }
    }

    /// Whether `enqueueFile` may be called: a plain socket, no payload being spliced in.
    var canQueueFile: Bool { !isClosed && !connecting && transport.canSplice && !transport.gathersWrites && bytesAheadOfSplice == nil }

    /// Whether file bytes wait to be sent (no payload may be spliced in before they are).
    var hasQueuedFiles: Bool { !fileSegments.isEmpty }

    /// Queues `count` bytes of the file `fd` from `offset` after everything queued now; they go
    /// out with sendfile(2), never through user space. `owner` keeps the fd open until then.
    /// Only when `canQueueFile`.
    func enqueueFile(_ fd: Int32, offset: UInt64, count: Int, owner: AnyObject) {
        guard canQueueFile, count > 0 else { return }
        let ahead = fileSegments.isEmpty ? output.count : queuedSinceLastFile
        fileSegments.append(FileSegment(owner: owner, fd: fd, offset: offset, remaining: count, ahead: ahead))
        queuedSinceLastFile = 0
    }

    /// Writes as much of the output queue as the socket takes now; arms writability for the rest.
    /// While a payload is spliced in, only the bytes ahead of it are written.
    func flush() {
        guard !isClosed, !connecting, !handshaking else { return }
        let wasWaiting = waitingToWrite
        while !output.isEmpty || !fileSegments.isEmpty {
            if fileSegments.first?.ahead == 0 {
                let outcome = sendFileSegment()
                guard case let .done(sent) = outcome, sent > 0 else { return writeStalled(outcome) }
                continue
            }
            let allowed = min(output.count, bytesAheadOfSplice ?? Int.max, fileSegments.first?.ahead ?? Int.max)
            if allowed == 0 {
                waitingToWrite = false
                return updateInterest()
            }
            let outcome = transport.write(UnsafeRawBufferPointer(rebasing: output.readable[..<allowed]))
            guard case let .done(written) = outcome, written > 0 else { return writeStalled(outcome) }
            output.consume(written)
            if !fileSegments.isEmpty { fileSegments[0].ahead &-= written }
            if transport.gathersWrites { transportHoldsBytes = true }
            if let ahead = bytesAheadOfSplice { bytesAheadOfSplice = ahead &- written }
        }
        if transportHoldsBytes {
            let outcome = transport.flushWrites()
            guard case .done = outcome else { return writeStalled(outcome) }
            transportHoldsBytes = false
        }
        waitingToWrite = false
        if output.capacity > Self.largeBuffer { output.shrinkIfIdle(to: Self.smallBuffer) }
        // Not in the middle of a payload being spliced in: the close waits for its end.
        if closeWhenFlushed && bytesAheadOfSplice == nil { return close() }
        updateInterest()
        if wasWaiting { delegate?.connectionDidDrain(self) }
    }

    /// A write (or a flush of gathered bytes) that could not go on: wait for the event the
    /// transport needs (a write that took nothing waits as for EAGAIN), or fail.
    private func writeStalled(_ outcome: TransportResult) {
        switch outcome {
        case .done, .wouldBlock:
            waitingToWrite = true
            writeWaitsFor = outcome == .wouldBlock(.readable) ? .readable : .writable
            updateInterest()
        case .end:
            fail(EPIPE)
        case let .failed(error):
            fail(error)
        }
    }

    /// Sends what is queued, then closes.
    func closeAfterFlush() {
        guard !isClosed else { return }
        closeWhenFlushed = true
        readingEnabled = false
        if output.isEmpty && fileSegments.isEmpty && !transportHoldsBytes && !connecting && bytesAheadOfSplice == nil { return close() }
        updateInterest()
    }

    /// Closes the socket now; the delegate hears `connectionDidClose` with no error.
    func close() {
        finish(error: nil)
    }

    /// Closes the socket after an error; the delegate hears `connectionDidClose` with `error`.
    func fail(_ error: Int32) {
        finish(error: error)
    }

    // MARK: Payload splicing (driven by `PayloadSplice`)

    /// Whether the owner asked to close once the queue is written.
    var isClosing: Bool { closeWhenFlushed }

    /// Reads now belong to a splice out of this socket.
    func beginSpliceSource() {
        isSpliceSource = true
        spliceWantsReadable = false
        updateInterest()
    }

    /// The splice wants to hear (`connectionCanSplice`) when this socket becomes readable.
    func waitToSpliceFrom() {
        spliceWantsReadable = true
        updateInterest()
    }

    /// Reads go back to `input`.
    func endSpliceSource() {
        isSpliceSource = false
        spliceWantsReadable = false
        updateInterest()
        readPendingLater()
    }

    /// A payload follows what is queued now; later bytes wait behind it.
    func beginSpliceTarget() {
        bytesAheadOfSplice = output.count
    }

    /// Everything queued ahead of the payload has been written.
    var isReadyForSplice: Bool { bytesAheadOfSplice == 0 }

    /// The splice wants to hear (`connectionCanSplice`) when the socket can take payload bytes.
    func waitToSpliceInto() {
        spliceWantsWritable = true
        updateInterest()
    }

    /// The payload is complete: what was queued behind it may go.
    func endSpliceTarget() {
        bytesAheadOfSplice = nil
        spliceWantsWritable = false
        updateInterest()
        flush()
    }

    /// Sends what the first file segment can now (sendfile); it goes once all is sent.
    private func sendFileSegment() -> TransportResult {
        var offset = off_t(truncatingIfNeeded: fileSegments[0].offset)
        while true {
            let sent = sendfile(fd, fileSegments[0].fd, &offset, fileSegments[0].remaining)
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 { return errno == EAGAIN || errno == EWOULDBLOCK ? .wouldBlock(.writable) : .failed(errno) }
            // The file ended before its bytes did: nothing more can be sent of this frame.
            guard sent > 0 else { return .failed(EIO) }
            fileSegments[0].offset &+= UInt64(sent)
            fileSegments[0].remaining -= sent
            if fileSegments[0].remaining == 0 {
                fileSegments.removeFirst()
                if fileSegments.isEmpty { queuedSinceLastFile = 0 }
            }
            return .done(sent)
        }
    }

    private func finish(error: Int32?) {
        guard !isClosed else { return }
        isClosed = true
        fileSegments.removeAll()
        pendingReadTimer?.cancel()
        pendingReadTimer = nil
        uv_poll_stop(poll)
        // The retain taken in init is dropped once libuv has closed the handle; libuv stopped
        // watching the fd at uv_poll_stop, so the fd may be closed now.
        closeOwnedHandle(pebble_poll_handle(poll))
        if lingersOnClose && !connecting { LingeringClose.start(fd: dup(transport.fd), loop: loop) }
        transport.close()
        delegate?.connectionDidClose(self, error: error)
    }

    private func updateInterest() {
        guard !isClosed else { return }
        var events: Int32 = 0
        if handshaking && !connecting {
            events = Int32((handshakeWaitsFor == .readable ? UV_READABLE : UV_WRITABLE).rawValue)
            return arm(events)
        }
        let wantsToRead = (isSpliceSource ? spliceWantsReadable : readingEnabled) && !readWaitsForWritable
        if (wantsToRead || (waitingToWrite && writeWaitsFor == .readable)) && !connecting { events |= Int32(UV_READABLE.rawValue) }
        let writeWaits = waitingToWrite && writeWaitsFor == .writable
        if writeWaits || readWaitsForWritable || connecting || spliceWantsWritable
            || (closeWhenFlushed && (!output.isEmpty || !fileSegments.isEmpty || transportHoldsBytes) && bytesAheadOfSplice == nil && !waitingToWrite) {
            events |= Int32(UV_WRITABLE.rawValue)
        }
        arm(events)
    }

    private func arm(_ events: Int32) {
        guard events != armedEvents else { return }
        armedEvents = events
        if events == 0 {
            uv_poll_stop(poll)
        } else {
            uv_poll_start(poll, events) { handle, status, events in
                guard let handle, let data = handle.pointee.data else { return }
                let this = Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue()
                this.handleEvents(status: status, events: events)
            }
        }
    }

    private func handleEvents(status: Int32, events: Int32) {
        // libuv reports any POLLERR as UV_EBADF; the socket knows the real cause (ECONNREFUSED …).
        if status < 0 { return fail(socketError() ?? -status) }
        if handshaking {
            if connecting {
                if let error = socketError() { return fail(error) }
                connecting = false
            }
            return advanceHandshake()
        }
        if events & Int32(UV_WRITABLE.rawValue) != 0 {
            handleWritable()
            if isClosed { return }
            if readWaitsForWritable {
                readWaitsForWritable = false
                updateInterest()
                if readingEnabled && !isSpliceSource { handleReadable() }
            }
        }
        if isClosed { return }
        guard events & Int32(UV_READABLE.rawValue) != 0 else { return }
        if waitingToWrite && writeWaitsFor == .readable {
            flush()
            if isClosed { return }
        }
        if isSpliceSource {
            if spliceWantsReadable {
                spliceWantsReadable = false
                updateInterest()
                delegate?.connectionCanSplice(self)
            }
        } else if readingEnabled {
            handleReadable()
        }
    }

    /// One step of the transport's handshake; once it is done, what was queued meanwhile is sent
    /// and whatever came with the handshake's last flight is read.
    private func advanceHandshake() {
        switch transport.handshake() {
        case .done:
            handshaking = false
            updateInterest()
            delegate?.connectionDidEstablish(self)
            if isClosed { return }
            flush()
            if !isClosed && readingEnabled && !isSpliceSource { handleReadable() }
        case let .wouldBlock(wait):
            handshakeWaitsFor = wait
            updateInterest()
        case .end:
            fail(ECONNRESET)
        case let .failed(error):
            fail(error)
        }
    }

    /// The pending error on the socket (SO_ERROR), if any.
    private func socketError() -> Int32? {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error != 0 else { return nil }
        return error
    }

    private func handleWritable() {
        if connecting {
            if let error = socketError() { return fail(error) }
            connecting = false
            updateInterest()
        }
        flush()
        if spliceWantsWritable && isReadyForSplice && !isClosed {
            spliceWantsWritable = false
            updateInterest()
            delegate?.connectionCanSplice(self)
        }
    }

    /// Reads until the socket is empty or the budget is spent, reporting after every read: the
    /// owner may start splicing the rest of a large frame, or pause reading, after any of them.
    private func handleReadable() {
        var total = 0
        var sawEOF = false
        var failure: Int32?
        reading: while total < Self.readBudget {
            input.reserve(readSize)
            let space = input.writable
            switch transport.read(into: space) {
            case let .done(count):
                input.commitWrite(count)
                total &+= count
                delegate?.connectionDidRead(self)
                if isClosed || isSpliceSource || !readingEnabled { break reading }
                // A short read emptied the socket, unless the transport still holds bytes.
                if count < space.count && transport.pendingBytes == 0 { break reading }
                if count == space.count { readSize = min(readSize &* 2, Self.readBudget) }
            case .wouldBlock(.readable):
                break reading
            case .wouldBlock(.writable):
                readWaitsForWritable = true
                updateInterest()
                break reading
            case .end:
                sawEOF = true
                break reading
            case let .failed(error):
                failure = error
                break reading
            }
        }
        if isClosed { return }
        if input.isEmpty && input.capacity > Self.largeBuffer {
            input.shrinkIfIdle(to: Self.smallBuffer)
            readSize = Self.smallBuffer
        }
        if let failure { return fail(failure) }
        if sawEOF { return close() }
        // The read budget ran out with bytes the transport holds: the poll will not report them.
        if total >= Self.readBudget { readPendingLater() }
    }

    /// Reads what the transport already holds on the loop's next turn, when reading may go on:
    /// no poll event will come for those bytes. (Never synchronously: the owner may be mid-call.)
    private func readPendingLater() {
        guard pendingReadTimer == nil, !isClosed, readingEnabled, !isSpliceSource, transport.pendingBytes > 0 else { return }
        pendingReadTimer = loop.schedule(after: 0) { [weak self] in
            guard let self else { return }
            self.pendingReadTimer = nil
            if !self.isClosed && self.readingEnabled && !self.isSpliceSource { self.handleReadable() }
        }
    }
}

/// libuv could not watch a socket (the errno it gave).
struct ConnectionError: Error, CustomStringConvertible {
    let errno: Int32
    var description: String { "cannot watch the socket: \(String(cString: strerror(errno)))" }
}

/// File bytes queued on a connection (`Connection.enqueueFile`): sent after `ahead` more bytes of
/// its output.
private struct FileSegment {
    let owner: AnyObject
    let fd: Int32
    var offset: UInt64
    var remaining: Int
    var ahead: Int
}
