import NineP
import Pebble

/// Read-ahead: on a fid read sequentially (two or more reads of one size at consecutive offsets)
/// the gateway keeps the next reads in flight to the server while the client consumes the last,
/// and answers the client's next read from them. They are reads of the gateway's own, cut into
/// pieces like a split read (`+Bridging`), which the client's read takes over when it asks for
/// exactly that. Dropped when the run breaks, when this gateway changes the file (any session:
/// `FileGenerations`), on Tclunk, and when older than `maxAge`; only on regular files, as the
/// server's getattr (or stat) says, and never on a `--no-read-ahead` path, where a read has effects.
extension ProxySession {
    struct ReadAheadSettings: Equatable {
        /// Bytes one fid may have read ahead (`--read-ahead-max`).
        var maxBytes = 4 << 20
        /// Files never read ahead (`--no-read-ahead`).
        var never = PathGlobRule(globs: [])
        /// Seconds a read made ahead may answer a client read after it was sent.
        var maxAge = ProxySession.readAheadMaxAge
    }

    /// Read ahead never answers with data read longer ago than this (seconds): 50 ms.
    static let readAheadMaxAge = 0.05
    /// Most reads one fid has ahead, whatever their size.
    static let readAheadMaxReads = 8

    /// What is known of an open file's kind: only a regular file is read ahead.
    enum ReadAheadKind { case unknown, probing, regular, never }

    struct ReadAheadFid {
        var window = ReadAheadWindow<UInt64>()
        var kind = ReadAheadKind.unknown
        let qidPath: UInt64
        /// The file's size when the server was asked what it is: nothing is read ahead from there
        /// on (a run that reaches the end of a file would otherwise end in reads of nothing). A
        /// file that grows is read by the client's own reads past it.
        var size: UInt64 = .max
        /// When the client's last read came, and the smoothed time between its reads (seconds):
        /// no more is read ahead than the client takes within half of `maxAge`, so a slow
        /// reader (a paced one) does not have reads made, aged out and made again.
        var lastReadAt: Double?
        var interval = 0.0

        mutating func clientReadCame(at now: Double) {
            if let lastReadAt { interval = interval == 0 ? now - lastReadAt : 0.75 * interval + 0.25 * (now - lastReadAt) }
            lastReadAt = now
        }

        /// Reads worth making ahead at the client's pace.
        func depth(maxAge: Double) -> Int {
            guard interval > 0 else { return ProxySession.readAheadMaxReads }
            return min(ProxySession.readAheadMaxReads, max(1, Int(maxAge / 2 / interval)))
        }
    }

    /// A client Tread on `subject` (not a Blue fid, not redirected): answered by a read made
    /// ahead for it (true), or not (the caller forwards it, then calls `readAheadMore`).
    func readAheadTread(tag: UInt16, backendFid: UInt32, subject: ClientFid, offset: UInt64, count: UInt32) -> Bool {
        guard let settings = access.readAhead, Self.splits(subject), let qidPath = subject.qidPath else { return false }
        var state = readAhead[backendFid] ?? ReadAheadFid(qidPath: qidPath)
        if state.kind == .unknown, let path = subject.scope?.path, settings.never.matches(path) { state.kind = .never }
        state.clientReadCame(at: access.monotonicNow())
        var taken = false
        switch state.window.clientRead(offset: offset, count: count) {
        case let .take(serial):
            // (Not the split itself: a copy would share its reply's buffer, which is then written.)
            if let (madeAt, generation) = splits[serial].map({ ($0.madeAt, $0.generation) }),
               access.monotonicNow() - madeAt <= settings.maxAge, access.fileGenerations.current(qidPath) == generation {
                splits[serial]?.clientTag = tag
                splitOfClientTag[tag] = serial
                stats.readAheadHits &+= 1
                finishSplitIfSettled(serial)
                taken = true
            } else {
                // Stale: this one and every later one.
                dropSplit(serial)
                state.window.dropAll().forEach(dropSplit)
            }
        case let .pass(dropped):
            dropped.forEach(dropSplit)
        }
        readAhead[backendFid] = state
        return taken
    }

    /// After a client read on `backendFid`: more reads ahead, when the run is sequential, the file
    /// regular (asked of the server the first time), and the server has room.
    func readAheadMore(_ backendFid: UInt32) {
        guard let settings = access.readAhead, var state = readAhead[backendFid], state.window.sequentialReads >= 1 else { return }
        switch state.kind {
        case .unknown:
            probeKind(backendFid)
            return
        case .probing, .never:
            return
        case .regular:
            break
        }
        // A short or failed read ahead is the end of what the server has now: nothing past it.
        if let last = state.window.ahead.last, let transfer = splits[last.handle]?.transfer, transfer.isSettled, Self.endsRun(transfer) {
            state.window.stopped = true
        }
        guard held.isEmpty, canSendNow else { return readAhead[backendFid] = state }
        let size = state.window.readSize
        for offset in state.window.wanted(maxBytes: settings.maxBytes, maxReads: state.depth(maxAge: settings.maxAge)) {
            guard offset < state.size, roomAtServer, admitBytes(Int(size) &+ NineP.rreadHeaderSize, type: .Tread) == nil,
                  let transfer = SplitTransfer<PieceFailure>(write: false, offset: offset, count: size, pieceSize: backendIOUnit)
            else { break }
            let generation = access.fileGenerations.current(state.qidPath)
            let serial = startSplit(transfer, frame: nil, clientTag: nil, backendFid: backendFid)
            splits[serial]?.madeAt = access.monotonicNow()
            splits[serial]?.generation = generation
            state.window.madeAhead(offset: offset, handle: serial)
            stats.readAheadReads &+= 1
        }
        readAhead[backendFid] = state
    }

    /// Whether a settled read ahead ends the run: short (the end of the file) or failed.
    private static func endsRun(_ transfer: SplitTransfer<PieceFailure>) -> Bool {
        guard case let .read(count) = transfer.answer else { return true }
        return Int(count) < transfer.pieces.reduce(0) { $0 + Int($1.count) }
    }

    /// Asks the server what the open file is (getattr's mode; stat's in 9P2000/.u): a FIFO, a
    /// device or a socket looks like a file by its qid, and reading one ahead would take data
    /// that no client asked for.
    private func probeKind(_ backendFid: UInt32) {
        readAhead[backendFid]?.kind = .probing
        // P9_GETATTR_MODE | P9_GETATTR_SIZE
        let message: TMessage = dialect == .linux ? .getattr(Tgetattr(fid: backendFid, requestMask: 0x201)) : .stat(Tstat(fid: backendFid))
        let sent = sendOwn(message) { [unowned self] reply in
            guard readAhead[backendFid]?.kind == .probing else { return }
            let (regular, size): (Bool, UInt64) = switch reply {
            case let .getattr(attributes)?: (attributes.mode & 0o170000 == 0o100000, attributes.size)
            case let .stat(stat)?: (stat.stat.mode & 0xFFF0_0000 == 0, stat.stat.length)
            default: (false, 0)
            }
            readAhead[backendFid]?.kind = regular ? .regular : .never
            readAhead[backendFid]?.size = size
            if regular { readAheadMore(backendFid) }
        }
        if !sent { readAhead[backendFid]?.kind = .unknown }
    }

    /// The fid is clunked or removed: what was read ahead for it goes.
    func forgetReadAhead(_ backendFid: UInt32) {
        guard var state = readAhead.removeValue(forKey: backendFid) else { return }
        state.window.dropAll().forEach(dropSplit)
    }

    /// Whether a client request changes its fid's file's data (a write, a truncation, a rename):
    /// every session's reads ahead of that file then stop counting, when it is sent and again
    /// when it is answered (the server may run requests in any order).
    static func changesFile(_ decoded: DecodedRequest) -> Bool {
        switch decoded.message {
        case .setattr(let setattr)?: setattr.valid & 0x8 != 0      // P9_ATTR_SIZE
        case .lopen(let open)?: open.flags & 0o1000 != 0           // O_TRUNC
        case .open(let open)?: open.mode & 0x10 != 0               // OTRUNC
        default: [.Twrite, .Twstat, .Trename].contains(decoded.type)
        }
    }
}
