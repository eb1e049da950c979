import NineP
import Pebble

/// Payload splicing: a large Twrite's or Rread's data moved socket → pipe → socket, never read
/// by the gateway, once its fixed fields were handled like any frame.
extension GatewaySession {
    /// The client's socket is being read by the upload splice, not into its buffer.
    var clientBytesAreSpliced: Bool { (upload ?? spillUpload).map { !$0.sourceReleased } ?? false }
    /// The backend's socket is being read by the download splice, not into its buffer.
    var backendBytesAreSpliced: Bool { download.map { !$0.sourceReleased } ?? false }

    /// The incomplete frame at the front of `buffer`, when it is a `type` frame whose fixed fields
    /// have arrived and enough of whose data is still in the socket to be worth splicing.
    func spliceableHead(of buffer: ByteBuffer, type: MessageType, fixedBytes: Int)
        -> (bytes: UnsafeMutableRawBufferPointer, rest: Int)? {
        // Both legs must offer splicing: a TLS leg's bytes are records the library must see.
        guard settings.spliceMinimum > 0, client.canSplice, backend?.canSplice == true, buffer.count >= fixedBytes,
              let header = FrameHeader.peek(UnsafeRawBufferPointer(buffer.readable)), header.type == type.rawValue
        else { return nil }
        let rest = Int(header.size) &- buffer.count
        guard rest >= settings.spliceMinimum else { return nil }
        return (buffer.readable, rest)
    }

    /// Sends a large Twrite on as soon as its fixed fields are checked, and splices its data after
    /// it; a refused one has its data dropped. False when the frame is not one to splice.
    func startUpload() -> Bool {
        guard let backend, backendOpen, !client.isClosing, core.sendsRequestsNow, spillUpload == nil,
              let head = spliceableHead(of: client.input, type: .Twrite, fixedBytes: NineP.twriteHeaderSize)
        else { return false }
        // A Blue fid's writes are held: spliced into its spill file, or read whole.
        if core.holdsWrites(UnsafeRawBufferPointer(head.bytes)) { return startSpillUpload(head) }
        // One the server must get in pieces comes into the gateway.
        guard !backend.hasQueuedFiles, head.bytes.count &+ head.rest <= Int(core.backendFrameLimit),
              // A Twrite's data may pass through in parts; a pipe much smaller than that costs more calls than copying.
              let pipe = loop.pipes.take(holding: min(head.rest, 64 * 1024))
        else { return false }
        let forwarded = core.clientFrame(head.bytes, payloadToFollow: head.rest) && !backend.isClosed
        client.input.consume(head.bytes.count)
        // Handling the head may have ended the session; a closed socket's fd number may already be another's.
        if client.isClosed || client.isClosing { loop.pipes.give(pipe); return true }
        let splice = makeSplice(from: client, to: forwarded ? backend : nil, count: head.rest, pipe: pipe)
        upload = splice
        start(splice)
        return true
    }

    /// A large Twrite a Blue fid holds in its spill file: its head is handled (the policy, the
    /// budgets), then its data goes socket → pipe → spill file; the Rwrite follows once all of it is
    /// there (`ProxySession.splicedHoldEnded`). A write refused on its head has its data dropped.
    /// False (nothing done) when the write is not one to hold that way: it is read whole.
    private func startSpillUpload(_ head: (bytes: UnsafeMutableRawBufferPointer, rest: Int)) -> Bool {
        guard core.splicesIntoSpill(UnsafeRawBufferPointer(head.bytes), rest: head.rest),
              let pipe = loop.pipes.take(holding: min(head.rest, 64 * 1024)) else { return false }
        _ = core.clientFrame(head.bytes, payloadToFollow: head.rest)
        client.input.consume(head.bytes.count)
        let hold = core.takeSplicedHold()
        if client.isClosed || client.isClosing { loop.pipes.give(pipe); return true }
        let target = hold.map { FileSpliceTarget(fd: $0.spill.fd, offset: $0.spliceAt, owner: $0.spill) }
        if target == nil { loop.pipes.give(pipe) }
        let splice = PayloadSplice(from: client, to: target, count: head.rest, pipe: target == nil ? nil : pipe, pool: loop.pipes,
                                   releasesSource: false)
        (spillUpload, spillHold) = (splice, hold)
        advance(splice)
        return true
    }

    /// Passes a large Rread's head to the client at once and splices its data after it; data nobody
    /// should see is dropped. Only when the pipe holds all the data that is left, so a client that
    /// reads slowly never leaves the backend connection stuck in the middle of a frame.
    func startDownload(from backend: Connection) -> Bool {
        guard let head = spliceableHead(of: backend.input, type: .Rread, fixedBytes: NineP.rreadHeaderSize),
              let tag = FrameHeader.peek(UnsafeRawBufferPointer(head.bytes))?.tag, !core.repliesWhole(backendTag: tag),
              let pipe = loop.pipes.take(holding: head.rest)
        else { return false }
        let delivered = core.backendFrame(head.bytes, payloadToFollow: head.rest) && !client.isClosed
        backend.input.consume(head.bytes.count)
        // Handling the head may have ended the session (a reply to a tag never used closes the
        // client, and a client with no fids left closes the backend at once): never splice from a
        // closed socket, whose fd number may already belong to another session.
        if backend.isClosed || backend.isClosing { loop.pipes.give(pipe); return true }
        let splice = makeSplice(from: backend, to: delivered ? client : nil, count: head.rest, pipe: pipe)
        download = splice
        start(splice)
        return true
    }

    /// The splice for the rest of a frame whose head was just handled: to `target` when the head
    /// went there, else (no target) the rest is dropped and the pipe goes back unused. A download
    /// (the backend is the source) must never leave the backend waiting on the client.
    func makeSplice(from source: Connection, to target: Connection?, count: Int, pipe: SplicePipe) -> PayloadSplice {
        if target == nil { loop.pipes.give(pipe) }
        return PayloadSplice(from: source, to: target, count: count, pipe: target == nil ? nil : pipe, pool: loop.pipes,
                             releasesSource: source === backend)
    }

    /// Writes what is queued ahead of the payload (the head among it), then moves what can be moved.
    func start(_ splice: PayloadSplice) {
        (splice.target as? Connection)?.flush()
        advance(splice)
    }

    /// Moves a splice on and deals with how it ended.
    func advance(_ splice: PayloadSplice) {
        // Flushing what was queued ahead of it (or another splice's end) may have ended the
        // session: a splice no longer current, or still reading a source that has closed, must not
        // touch a socket, whose fd number may already be another session's. One whose source is
        // released only drains its pipe (and memory) into the target, which must go on.
        guard splice === upload || splice === download || splice === spillUpload, splice.sourceReleased || !splice.source.isClosed else { return }
        let outcome = splice.pump()
        let spliced = splice.takeSpliced()
        if splice === spillUpload {
            // Held, not yet written to the server: the commit counts them (sendfile).
            payload.heldSpliced &+= spliced
        } else if splice === download {
            payload.readZeroCopy &+= spliced
            settings.metrics.bytesReadZeroCopy.add(spliced)
        } else {
            payload.writtenZeroCopy &+= spliced
            settings.metrics.bytesWrittenZeroCopy.add(spliced)
        }
        switch outcome {
        case .moving:
            break
        case .finished:
            if splice === spillUpload {
                let hold = spillHold
                (spillUpload, spillHold) = (nil, nil)
                if let hold { core.splicedHoldEnded(hold) }
                pumpClient()
            } else if splice === upload {
                upload = nil
                pumpClient()
            } else if splice === download {
                download = nil
                pumpBackend()
            }
        case let .sourceFailed(error):
            // The target holds part of a frame that can never be completed: it has to go too.
            forget(splice)
            let reason = splice.source === client ? Self.clientLeftMidWrite : Self.backendLeftMidReply
            if closeReason == nil { closeReason = reason }
            if !(splice.target is FileSpliceTarget) { logger.warning("\(reason); closing the other side too") }
            (splice.target as? Connection)?.close()
            if let error { splice.source.fail(error) } else { splice.source.close() }
        case let .targetFailed(error) where splice === spillUpload:
            // The spill file refused (ENOSPC …): the rest of the data is dropped, and the write fails.
            spillHold?.failure = error
            splice.dropTarget()
            advance(splice)
        case let .targetFailed(error):
            if let target = splice.target as? Connection {
                target.fail(error)
            } else {
                forget(splice)
                splice.source.fail(error)
            }
        }
    }

    static let clientLeftMidWrite = "client left in the middle of a write"
    static let backendLeftMidReply = "file server closed the connection in the middle of a reply"

    func forget(_ splice: PayloadSplice) {
        if splice === spillUpload {
            if let spillHold { core.splicedHoldDropped(spillHold) }
            (spillUpload, spillHold) = (nil, nil)
        }
        if splice === upload { upload = nil }
        if splice === download { download = nil }
    }
}
