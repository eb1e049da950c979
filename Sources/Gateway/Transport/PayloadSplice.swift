import CShims
import Foundation

/// Moves the rest of one frame's payload from the source socket to the target socket through a
/// pipe with splice(2), behind whatever the target had queued, so the bytes never enter user space
/// and the frame's head is on its way before its tail has arrived (cut-through). Without a target
/// (nobody may see the frame) the rest is read and dropped, so the source stays at a frame boundary.
///
/// Until the whole payload is out of the source socket, the source reads nothing into its buffer;
/// then it is released (`sourceReleased`) even if the target has not taken everything yet, so a
/// slow target never stops the source. Until the end the target holds back later frames.
/// The owner calls `pump()` when either connection reports `connectionCanSplice`.
///
/// A pipe holds one socket-buffer fragment per slot, so when data comes in small pieces (a server
/// far away or writing in small chunks) it fills long before its byte capacity. A splice that must
/// release its source (`releasesSource`: the server's connection, which must never wait on a slow
/// client) then reads the rest of the payload into memory (at most one payload); those bytes
/// follow the pipe's to the target. Otherwise the source simply waits for the target.
final class PayloadSplice {
    enum Outcome: Equatable {
        /// Waiting for the source to be readable or the target to be writable.
        case moving
        /// The whole payload was delivered (or dropped); both connections are back to normal.
        case finished
        /// The source ended (nil: EOF) before the payload did; the target holds a partial frame.
        case sourceFailed(Int32?)
        /// The target refused the payload (EPIPE, ECONNRESET …).
        case targetFailed(Int32)
    }

    let source: Connection
    private(set) var target: (any SpliceTarget)?
    /// Payload bytes still in the source socket.
    private(set) var remaining: Int
    /// The source has given up all its payload bytes and reads normally again.
    private(set) var sourceReleased = false
    /// Payload bytes moved from the pipe into the target and not yet reported by `takeSpliced()`.
    private var splicedUnreported = 0
    /// Payload bytes in the pipe, not yet in the target.
    private var inPipe = 0
    private var pipe: SplicePipe?
    private let pool: PipePool
    private var scratch: UnsafeMutableRawBufferPointer?
    /// Whether the source may not wait for the target: what the pipe cannot take goes to `overflow`.
    let releasesSource: Bool
    /// Payload bytes read into memory because the pipe was full; they go out after the pipe's.
    private var overflow: UnsafeMutableRawBufferPointer?
    private var overflowFilled = 0
    private var overflowSent = 0

    /// Takes over both connections. `pipe` must be empty; without a target it may be nil.
    init(from source: Connection, to target: (any SpliceTarget)?, count: Int, pipe: SplicePipe?, pool: PipePool,
         releasesSource: Bool) {
        precondition(target == nil || pipe != nil, "a splice to a target needs a pipe")
        precondition(source.canSplice && target?.canSplice != false, "splicing on a transport that cannot")
        self.source = source
        self.target = target
        self.remaining = count
        self.pipe = pipe
        self.pool = pool
        self.releasesSource = releasesSource
        source.beginSpliceSource()
        target?.beginSpliceTarget()
    }

    deinit {
        scratch?.deallocate()
        overflow?.deallocate()
    }

    /// Bytes spliced into the target since the last call: each byte is reported once.
    func takeSpliced() -> Int {
        defer { splicedUnreported = 0 }
        return splicedUnreported
    }

    /// The target went away: the rest of the payload (and what the pipe holds) is dropped.
    func dropTarget() {
        target = nil
    }

    /// Moves what can be moved now without blocking.
    func pump() -> Outcome {
        while true {
            var moved = false
            if inPipe > 0 || overflowSent < overflowFilled {
                switch inPipe > 0 ? drainPipe() : drainOverflow() {
                case .moved: moved = true
                case .blocked: break
                case let .failed(error): return .targetFailed(error ?? EPIPE)
                }
            }
            if remaining > 0 {
                switch fillPipe() {
                case .moved: moved = true
                case .blocked: break
                case let .failed(error): return .sourceFailed(error)
                }
            }
            if remaining == 0 && !sourceReleased {
                sourceReleased = true
                source.endSpliceSource()
            }
            if remaining == 0 && inPipe == 0 && overflowSent == overflowFilled { return finish() }
            if !moved { return .moving }
        }
    }

    private enum Step { case moved, blocked, failed(Int32?) }

    /// Pipe → target; without a target, pipe → nowhere.
    private func drainPipe() -> Step {
        guard let pipe else { return .blocked }
        guard let target else {
            let count = Foundation.read(pipe.readFd, scratchBuffer().baseAddress!, min(inPipe, Self.scratchSize))
            guard count > 0 else { return .failed(count == 0 ? EIO : errno) }
            inPipe &-= count
            return .moved
        }
        let more: Int32 = remaining > 0 || overflowFilled > overflowSent ? 1 : 0
        let (moved, step) = intoTarget(target) { [inPipe] in pebble_splice(pipe.readFd, $0, inPipe, more) }
        inPipe &-= moved
        splicedUnreported &+= moved
        return step
    }

    /// Memory → target, once the pipe is empty; without a target the bytes are dropped.
    private func drainOverflow() -> Step {
        guard let overflow, let target else {
            overflowSent = overflowFilled
            return .moved
        }
        let (moved, step) = intoTarget(target) { [overflowSent, overflowFilled] in
            Foundation.write($0, overflow.baseAddress! + overflowSent, overflowFilled &- overflowSent)
        }
        overflowSent &+= moved
        return step
    }

    /// One call moving bytes into the target's fd (once what was queued ahead of the payload is
    /// written): how many it moved, and whether to go on, wait for the target, or give up.
    private func intoTarget(_ target: any SpliceTarget, _ call: (Int32) -> Int) -> (moved: Int, step: Step) {
        guard target.isReadyForSplice else {
            target.waitToSpliceInto()
            return (0, .blocked)
        }
        let count = call(target.fd)
        if count > 0 { return (count, .moved) }
        let error = errno
        if count < 0 && Self.isTransient(error) {
            target.waitToSpliceInto()
            return (0, .blocked)
        }
        return (0, .failed(count == 0 ? EPIPE : error))
    }

    /// An errno that means "not now" rather than "never".
    private static func isTransient(_ error: Int32) -> Bool {
        error == EAGAIN || error == EWOULDBLOCK || error == EINTR
    }

    /// Source → memory, for the rest of the payload once the pipe could take no more.
    private func fillOverflow() -> Step {
        let buffer: UnsafeMutableRawBufferPointer
        if let overflow {
            buffer = overflow
        } else {
            buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: remaining, alignment: 16)
            overflow = buffer
        }
        let count = Foundation.read(source.fd, buffer.baseAddress! + overflowFilled, remaining)
        if count > 0 {
            remaining &-= count
            overflowFilled &+= count
            return .moved
        }
        if count == 0 { return .failed(nil) }
        let error = errno
        if Self.isTransient(error) {
            source.waitToSpliceFrom()
            return .blocked
        }
        return .failed(error)
    }

    /// Source → pipe; without a target, source → nowhere. Once bytes went to memory, the rest follows them.
    private func fillPipe() -> Step {
        if overflow != nil && target != nil { return fillOverflow() }
        let count: Int
        if target != nil, let pipe {
            let room = pipe.capacity &- inPipe
            guard room > 0 else { return releasesSource ? fillOverflow() : .blocked }
            count = pebble_splice(source.fd, pipe.writeFd, min(remaining, room), 0)
        } else {
            count = Foundation.read(source.fd, scratchBuffer().baseAddress!, min(remaining, Self.scratchSize))
        }
        if count > 0 {
            remaining &-= count
            if target != nil { inPipe &+= count }
            return .moved
        }
        if count == 0 { return .failed(nil) }
        let error = errno
        if Self.isTransient(error) {
            // With bytes in the pipe, EAGAIN may mean the pipe is full rather than the socket empty.
            if inPipe > 0 && target != nil {
                let waiting = pebble_readable_bytes(source.fd)
                if waiting < 0 { return .failed(errno) }
                // Full: read the rest into memory, or let the target's progress call `pump()`
                // again (waiting for a readable source would spin).
                if waiting > 0 { return releasesSource ? fillOverflow() : .blocked }
            }
            source.waitToSpliceFrom()
            return .blocked
        }
        return .failed(error)
    }

    private func finish() -> Outcome {
        if let pipe { pool.give(pipe) }
        pipe = nil
        overflow?.deallocate()
        overflow = nil
        if !sourceReleased {
            sourceReleased = true
            source.endSpliceSource()
        }
        target?.endSpliceTarget()
        return .finished
    }

    private static let scratchSize = 64 * 1024

    private func scratchBuffer() -> UnsafeMutableRawBufferPointer {
        if let scratch { return scratch }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
        scratch = buffer
        return buffer
    }
}

/// What a payload may be spliced into: a socket (`Connection`), or a file (`FileSpliceTarget`).
protocol SpliceTarget: AnyObject {
    var fd: Int32 { get }
    var canSplice: Bool { get }
    /// Everything queued ahead of the payload has gone.
    var isReadyForSplice: Bool { get }
    /// A payload follows what is queued now.
    func beginSpliceTarget()
    /// Wants `connectionCanSplice` when the payload may go on.
    func waitToSpliceInto()
    /// The payload is complete.
    func endSpliceTarget()
}

extension Connection: SpliceTarget {}

/// A payload spliced into a file from `offset` (a held write into its Blue spill file): a
/// regular file is always ready, and its position is this splice's (every other use of the file
/// names its offsets). `owner` keeps the fd open.
final class FileSpliceTarget: SpliceTarget {
    let fd: Int32
    private let offset: UInt64
    private let owner: AnyObject

    init(fd: Int32, offset: UInt64, owner: AnyObject) {
        (self.fd, self.offset, self.owner) = (fd, offset, owner)
    }

    var canSplice: Bool { true }
    var isReadyForSplice: Bool { true }
    func beginSpliceTarget() { lseek(fd, off_t(truncatingIfNeeded: offset), SEEK_SET) }
    func waitToSpliceInto() {}
    func endSpliceTarget() {}
}
