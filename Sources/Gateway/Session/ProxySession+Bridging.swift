import NineP
import Pebble

/// msize bridging: the client's msize is its own (up to `--max-msize`), the server's may be
/// smaller (diod: 64 KiB). A Tread or Twrite on a regular file larger than the server can carry
/// goes as pieces at consecutive offsets on the same backend fid, sent together, and is answered
/// as one (`SplitTransfer`); other reads and writes are cut to what the server can carry (a short
/// read or write, which clients handle), directory reads included; any other request that cannot
/// fit the server's msize is refused EMSGSIZE. Opens tell the client it may use its own msize.
extension ProxySession {
    /// Why a piece failed: the server's error (passed on as it is), or the gateway's (a malformed
    /// reply, no tag left), which is logged as the gateway's.
    struct PieceFailure {
        var error: ProxyError
        var fromServer: Bool
    }

    /// A client Tread or Twrite going as pieces, or a read the gateway makes ahead of the client
    /// (`+ReadAhead`), which a client read takes over when it asks for exactly that.
    struct SplitRequest {
        var transfer: SplitTransfer<PieceFailure>
        /// The client request it answers; nil for a read ahead no client asked for yet.
        var clientTag: UInt16?
        /// The backend tag of each piece (nil: never registered).
        var pieceTags: [UInt16?]
        /// Set by the client's first Tflush of it: the pieces at the server are flushed too.
        var flushing = false
        /// Client Tflushes answered once every piece has settled, in order.
        var flushTags: [UInt16] = []
        /// For a read: the answer's frame, its header written at the end, each piece's data copied
        /// to its place as it comes (counted in `bytesHeld` while kept).
        var reply: [UInt8] = []
        /// For a read ahead: when it was sent (monotonic seconds), and its file's change count then.
        var madeAt = 0.0
        var generation: UInt64 = 0
        /// For a write: the file it changes, whose reads ahead stop counting when it is answered.
        var changesFile: UInt64?
    }

    /// What to do with a request the server's msize may not carry.
    enum BridgePlan {
        case asIs
        /// Its count cut to what one server reply or request can carry.
        case cap(UInt32)
        case split(SplitTransfer<PieceFailure>)
        case refuse(ProxyError)
    }

    /// Whether the client's msize is larger than the server's.
    var bridges: Bool { backendMsize > 0 && msize > backendMsize }

    /// The most data one Tread or Twrite to the server carries (its iounit by convention).
    var backendIOUnit: UInt32 { backendMsize > UInt32(NineP.ioHeaderSize) ? backendMsize - UInt32(NineP.ioHeaderSize) : 1 }

    /// What becomes of a request the policy let through, on a session that bridges. `count` is the
    /// read's count as the policy left it; `amended`: its reply is Blue's to amend, so it goes whole.
    func bridgePlan(_ decoded: DecodedRequest, frameSize: Int, partial: Bool, subject: ClientFid?,
                    count: UInt32?, amended: Bool) -> BridgePlan {
        guard bridges else { return .asIs }
        let unit = backendIOUnit
        switch decoded.type {
        case .Tread, .Twrite:
            guard let count = count ?? decoded.count, count > unit, let offset = decoded.offset else { return .asIs }
            if partial {
                // The host reads such a Twrite whole; one that came in parts cannot be cut here.
                return .refuse(Self.tooLargeForServer(frameSize, backendMsize))
            }
            // At most `maxPieces` pieces (a short read or write past them): a server with a tiny
            // msize must not make one request thousands.
            let (most, overflow) = unit.multipliedReportingOverflow(by: Self.maxPieces)
            if let subject, Self.splits(subject), !amended,
               let transfer = SplitTransfer<PieceFailure>(write: decoded.type == .Twrite, offset: offset,
                                                          count: overflow ? count : min(count, most), pieceSize: unit) {
                return .split(transfer)
            }
            return .cap(unit)
        case .Treaddir:
            guard let count = count ?? decoded.count, count > unit else { return .asIs }
            return .cap(unit)
        default:
            return frameSize > Int(backendMsize) ? .refuse(Self.tooLargeForServer(frameSize, backendMsize)) : .asIs
        }
    }

    /// The most pieces one client request becomes.
    static let maxPieces: UInt32 = 64

    /// Only an open regular file takes pieces at any offset in any order: an append-only or
    /// exclusive file, a directory's stats, an xattr's value or an auth exchange would not.
    static func splits(_ fid: ClientFid) -> Bool {
        fid.kind == .open && !fid.readsStats
            && fid.qidType & (Qid.directory | Qid.appendOnly | Qid.exclusive | Qid.auth | Qid.mount) == 0
    }

    static func tooLargeForServer(_ size: Int, _ backendMsize: UInt32) -> ProxyError {
        ProxyError(errno: 90, message: "Message too long", // EMSGSIZE
                   detail: "a \(size)-byte request does not fit the file server's msize \(backendMsize)")
    }

    /// Cuts a whole Twrite frame to `count` bytes of data, in place: the server is asked for a short write.
    static func capWrite(_ frame: UnsafeMutableRawBufferPointer, to count: UInt32) -> UnsafeMutableRawBufferPointer {
        let size = NineP.twriteHeaderSize + Int(count)
        guard size < frame.count else { return frame }
        FramePatch.setU32(UInt32(size), at: 0, in: frame)
        FramePatch.setU32(count, at: NineP.ioCountOffset, in: frame)
        return UnsafeMutableRawBufferPointer(rebasing: frame[..<size])
    }

    /// Rlopen, Rlcreate, Ropen, Rcreate: an iounit that stands for the server's msize becomes the
    /// client's, so the client sends the large reads and writes the bridge exists for. A smaller
    /// one (a file's own atomic unit) stays.
    func widenIounit(_ frame: UnsafeMutableRawBufferPointer, header: FrameHeader) {
        guard bridges, Self.opensWithIounit.contains(header.type), frame.count >= NineP.iounitOffset + 4 else { return }
        let iounit = FramePatch.u32(at: NineP.iounitOffset, in: UnsafeRawBufferPointer(frame))
        if iounit >= backendIOUnit { FramePatch.setU32(msize - UInt32(NineP.ioHeaderSize), at: NineP.iounitOffset, in: frame) }
    }

    static let opensWithIounit = Set([MessageType.Rlopen, .Rlcreate, .Ropen, .Rcreate].map(\.rawValue))

    // MARK: Pieces

    /// Sends the pieces of a client request, or of a read ahead (`clientTag` nil): all registered
    /// now, held like any request while the server has no room. `frame` is the whole client Twrite
    /// for a write. Returns the split's serial.
    @discardableResult
    func startSplit(_ transfer: SplitTransfer<PieceFailure>, frame: UnsafeRawBufferPointer?, clientTag: UInt16?, backendFid: UInt32) -> UInt64 {
        let serial = tags.makeSerial()
        var split = SplitRequest(transfer: transfer, clientTag: clientTag, pieceTags: Array(repeating: nil, count: transfer.pieces.count))
        if !transfer.isWrite {
            // Written only where pieces put data (and the header at the end): never read uninitialized.
            let size = NineP.rreadHeaderSize &+ transfer.pieces.reduce(0) { $0 &+ Int($1.count) }
            split.reply = [UInt8](unsafeUninitializedCapacity: size) { _, count in count = size }
            splitBytes &+= size
        }
        splits[serial] = split
        if let clientTag {
            splitOfClientTag[clientTag] = serial
            stats.splitRequests &+= 1
        }
        var dataAt = NineP.twriteHeaderSize
        for (index, piece) in transfer.pieces.enumerated() {
            var data: UnsafeRawBufferPointer?
            if transfer.isWrite, let frame {
                data = UnsafeRawBufferPointer(rebasing: frame[dataAt..<(dataAt + Int(piece.count))])
                dataAt += Int(piece.count)
            }
            let tag = sendPiece(fid: backendFid, piece: piece, data: data) { [unowned self] reply in
                pieceAnswered(serial: serial, index: index, reply)
            }
            if let tag {
                splits[serial]?.pieceTags[index] = tag
            } else {
                settlePiece(serial: serial, index: index, .failed(PieceFailure(error: .tooManyRequests, fromServer: false)))
            }
        }
        finishSplitIfSettled(serial)
        return serial
    }

    /// Registers one piece like a client request of its size (its frame and its reply against the
    /// quota and max-inflight, its bytes against the rates) and sends or holds it: a Tread, or with
    /// `data` (the client's, copied once into the piece's frame) a Twrite.
    private func sendPiece(fid: UInt32, piece: SplitTransfer<PieceFailure>.Piece, data: UnsafeRawBufferPointer?,
                           then continuation: @escaping (UnsafeRawBufferPointer?) -> Void) -> UInt16? {
        guard let dialect else { return nil }
        var request = PendingRequest(origin: .own, type: data == nil ? .Tread : .Twrite, serial: tags.makeSerial())
        request.isPiece = true
        request.usedBackendFids = [fid]
        request.countLimit = piece.count
        request.reservedBytes = data == nil ? 0 : NineP.twriteHeaderSize &+ Int(piece.count)
        request.replyBytes = data == nil ? NineP.rreadHeaderSize &+ Int(piece.count) : 0
        request.sent = held.isEmpty && canSendNow
        return registerOwn(request, reply: .frame(continuation)) { tag in
            guard let data else { return Frame(tag: tag, message: TMessage.read(Tread(fid: fid, offset: piece.offset, count: piece.count))).encode(dialect: dialect) }
            var bytes = Frame(tag: tag, message: TMessage.write(Twrite(fid: fid, offset: piece.offset, data: []))).encode(dialect: dialect)
            bytes.reserveCapacity(bytes.count &+ data.count)
            bytes.append(contentsOf: data)
            bytes.withUnsafeMutableBytes { frame in
                FramePatch.setU32(UInt32(frame.count), at: 0, in: frame)
                FramePatch.setU32(UInt32(data.count), at: NineP.ioCountOffset, in: frame)
            }
            return bytes
        }
    }

    /// A piece's reply, whole (nil: malformed, or no reply will come): a read's data goes straight
    /// to its place in the answer.
    private func pieceAnswered(serial: UInt64, index: Int, _ frame: UnsafeRawBufferPointer?) {
        // Only what is needed, never the split itself: a copy of it would share the reply's
        // buffer, and writing the piece's data into the table's would then copy all of it.
        guard let (isWrite, flushing, piece, start) = splits[serial].map({ split in
            (split.transfer.isWrite, split.flushing, split.transfer.pieces[index], split.transfer.pieces[0].offset)
        }) else { return }
        var outcome = SplitTransfer<PieceFailure>.Outcome.failed(PieceFailure(error: .badBackendReply, fromServer: false))
        guard let frame, let header = FrameHeader.peek(frame), frame.count >= NineP.rreadHeaderSize else {
            if frame == nil && flushing { outcome = .flushed }
            return settled(serial: serial, index: index, outcome)
        }
        let count = FramePatch.u32(at: FrameHeader.byteCount, in: frame)
        switch header.messageType {
        case .Rread? where !isWrite && count <= piece.count && Int(count) <= frame.count &- NineP.rreadHeaderSize:
            let at = NineP.rreadHeaderSize &+ Int(piece.offset &- start)
            splits[serial]?.reply.withUnsafeMutableBytes { reply in
                reply.baseAddress!.advanced(by: at).copyMemory(from: frame.baseAddress!.advanced(by: NineP.rreadHeaderSize), byteCount: Int(count))
            }
            outcome = .read(count)
        case .Rwrite? where isWrite:
            outcome = .wrote(count)
        case .Rlerror?, .Rerror?:
            if let reply = try? Frame<RMessage>.decode(frame, dialect: dialect ?? .linux).message, let error = ProxyError.serverError(reply) {
                outcome = .failed(PieceFailure(error: error, fromServer: true))
            }
        default:
            break
        }
        settled(serial: serial, index: index, outcome)
    }

    private func settled(serial: UInt64, index: Int, _ outcome: SplitTransfer<PieceFailure>.Outcome) {
        settlePiece(serial: serial, index: index, outcome)
        finishSplitIfSettled(serial)
    }

    private func settlePiece(serial: UInt64, index: Int, _ outcome: SplitTransfer<PieceFailure>.Outcome) {
        guard splits[serial] != nil else { return }
        if splits[serial]?.transfer.settle(index, outcome) == false {
            // More than the piece asked for: the server is broken.
            splits[serial]?.transfer.settle(index, .failed(PieceFailure(error: .badBackendReply, fromServer: false)))
        }
    }

    /// Once every piece has settled: the one answer (unless the first piece was flushed), then
    /// the client's Tflushes of it. A read ahead stays until a client read takes it or it is dropped.
    func finishSplitIfSettled(_ serial: UInt64) {
        guard var split = splits[serial], split.transfer.isSettled, let clientTag = split.clientTag else { return }
        // Out of the table first, so the reply's buffer has one owner and is written in place.
        dropSplit(serial)
        if let qidPath = split.changesFile { access.fileGenerations.bump(qidPath) }
        switch split.transfer.answer {
        case let .read(count):
            let size = NineP.rreadHeaderSize &+ Int(count)
            split.reply.withUnsafeMutableBytes { frame in
                FramePatch.setU32(UInt32(size), at: 0, in: frame)
                frame[4] = MessageType.Rread.rawValue
                FramePatch.setTag(clientTag, in: frame)
                FramePatch.setU32(count, at: FrameHeader.byteCount, in: frame)
            }
            stats.replies &+= 1
            stats.bytesToClient &+= size
            split.reply.withUnsafeBytes { host.sendToClient(UnsafeRawBufferPointer(rebasing: $0[..<size])) }
        case let .wrote(count):
            sendToClient(.write(Rwrite(count: count)), tag: clientTag)
        case let .failed(failure) where failure.fromServer:
            stats.replies &+= 1
            sendToClient(failure.error.reply(tag: clientTag, dialect: dialect ?? .plan9))
        case let .failed(failure):
            reply(error: failure.error, tag: clientTag)
        case .nothing:
            break
        }
        for flush in split.flushTags { sendToClient(.flush(Rflush()), tag: flush) }
    }

    /// Forgets a split: its pieces at the server are answered to nobody, and those still held never go.
    func dropSplit(_ serial: UInt64) {
        guard let split = splits.removeValue(forKey: serial) else { return }
        splitBytes &-= split.reply.count
        if let clientTag = split.clientTag, splitOfClientTag[clientTag] == serial { splitOfClientTag[clientTag] = nil }
        for pieceTag in split.pieceTags.compactMap({ $0 }) where tags.request(pieceTag)?.sent == false {
            dropHeldPiece(pieceTag)
        }
    }

    /// A piece still held (never sent) is dropped, and its continuation with it.
    private func dropHeldPiece(_ pieceTag: UInt16) {
        _ = held.remove(tag: pieceTag)
        ownReplies[pieceTag] = nil
        dropHeld(pieceTag)
    }

    // MARK: Tflush

    /// A client Tflush of a split request: every piece still out is flushed (one held is dropped),
    /// and the Tflush is answered once all have settled. False when `oldTag` is no split request.
    func flushSplit(oldTag: UInt16, tag: UInt16) -> Bool {
        guard let serial = splitOfClientTag[oldTag], var split = splits[serial] else { return false }
        split.flushTags.append(tag)
        let first = !split.flushing
        split.flushing = true
        splits[serial] = split
        guard first else { return true }
        for (index, pieceTag) in split.pieceTags.enumerated() {
            guard let pieceTag, split.transfer.isPending(index), let piece = tags.request(pieceTag) else { continue }
            if !piece.sent {
                dropHeldPiece(pieceTag)
                settlePiece(serial: serial, index: index, .flushed)
            } else {
                var flush = PendingRequest(origin: .gateway, type: .Tflush, serial: tags.makeSerial())
                flush.flushTarget = (pieceTag, piece.serial)
                guard let flushTag = tags.add(flush) else { continue }
                sendToBackend(.flush(Tflush(oldtag: pieceTag)), tag: flushTag)
            }
        }
        finishSplitIfSettled(serial)
        return true
    }

    /// Whether a client tag is a split request's or a Tflush waiting on one.
    func splitUses(clientTag: UInt16) -> Bool {
        splitOfClientTag[clientTag] != nil || splits.values.contains { $0.flushTags.contains(clientTag) }
    }

    /// The session ends or resets: what the pieces would have answered is nobody's now (the
    /// pieces themselves are flushed with the rest).
    func forgetSplits() {
        splits.removeAll()
        splitOfClientTag.removeAll()
        splitBytes = 0
        readAhead.removeAll()
    }
}
