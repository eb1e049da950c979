import Foundation
import NineP
import Pebble

/// The atomic replace's temporaries (`BlueTemporary`) are the gateway's own: clients never see
/// them (a walk to one fails with ENOENT, `RequestPolicy`; directory reads leave them out, here),
/// and the ones a crash left behind (the gateway or the server gone mid-commit) are removed by
/// the first atomic replace of a session in their directory, once nothing has written to them for
/// a minute (a commit under way writes to its own all the time), or at once when this gateway
/// knows it orphaned them (`OrphanedTemporaries`).
extension ProxySession {
    /// Most leftovers one sweep looks at (the rest wait for the next session's).
    static let sweepLimit = 64
    static let getattrMtime: UInt64 = 0x40
    static let linuxDirectory: UInt32 = 0o200000

    // MARK: Hidden from directory reads

    /// An Rreaddir for the client without the temporaries' entries: the frame to send instead, or
    /// nil to pass the reply on. When every entry was one, the client's Treaddir is handled again
    /// from after them (an empty reply would tell it the directory ended): true in `reread` then.
    func hidingTemporaries(_ frame: UnsafeRawBufferPointer, header: FrameHeader, request: PendingRequest,
                           clientTag: UInt16) -> (frame: [UInt8]?, reread: Bool) {
        guard header.type == MessageType.Rreaddir.rawValue, frame.count >= NineP.rreadHeaderSize,
              let hidden = BlueTemporary.hiding(in: UnsafeRawBufferPointer(rebasing: frame[NineP.rreadHeaderSize...]))
        else { return (nil, false) }
        if hidden.kept.isEmpty, let clientFid = request.readdirClientFid, let count = request.countLimit,
           flushOfTarget[header.tag] == nil {
            var again = Frame(tag: clientTag, message: TMessage.readdir(Treaddir(fid: clientFid, offset: hidden.resumeAt, count: count)))
                .encode(dialect: .linux)
            again.withUnsafeMutableBytes { _ = clientFrame($0, replayed: true) }
            return (nil, true)
        }
        return (Frame(tag: clientTag, message: RMessage.readdir(Rreaddir(data: hidden.kept))).encode(dialect: .linux), false)
    }

    /// A 9P2000/.u directory read is about to go: the offset the server gets (the client's,
    /// moved past the temporaries left out of the fid's earlier reads), patched into `frame`.
    func statReadStarts(_ frame: UnsafeMutableRawBufferPointer, backendFid: UInt32, clientFid: UInt32,
                        offset: UInt64) -> (clientFid: UInt32, client: UInt64, server: UInt64) {
        if offset == 0 { statReadShift[backendFid] = nil }
        guard let shift = statReadShift[backendFid], shift.client == offset else { return (clientFid, offset, offset) }
        FramePatch.setU64(shift.server, at: NineP.ioOffsetOffset, in: frame)
        return (clientFid, offset, shift.server)
    }

    /// An Rread of a 9P2000/.u directory for the client without the temporaries' stats, as
    /// `hidingTemporaries` for an Rreaddir: the offsets the client sees then count only what it
    /// was given, so the fid's next read is sent at the server's own (`statReadStarts`).
    func hidingStatTemporaries(_ frame: UnsafeRawBufferPointer, header: FrameHeader, request: PendingRequest,
                               clientTag: UInt16) -> (frame: [UInt8]?, reread: Bool) {
        guard let at = request.statRead, let backendFid = request.usedBackendFids.first, let dialect,
              header.type == MessageType.Rread.rawValue, frame.count >= NineP.rreadHeaderSize else { return (nil, false) }
        let data = UnsafeRawBufferPointer(rebasing: frame[NineP.rreadHeaderSize...])
        guard let kept = BlueTemporary.hidingStats(in: data) else {
            if statReadShift[backendFid] != nil {
                statReadShift[backendFid] = (at.client &+ UInt64(data.count), at.server &+ UInt64(data.count))
            }
            return (nil, false)
        }
        statReadShift[backendFid] = (at.client &+ UInt64(kept.count), at.server &+ UInt64(data.count))
        if kept.isEmpty, let count = request.countLimit, flushOfTarget[header.tag] == nil {
            var again = Frame(tag: clientTag, message: TMessage.read(Tread(fid: at.clientFid, offset: at.client, count: count))).encode(dialect: dialect)
            again.withUnsafeMutableBytes { _ = clientFrame($0, replayed: true) }
            return (nil, true)
        }
        return (Frame(tag: clientTag, message: RMessage.read(Rread(data: kept))).encode(dialect: dialect), false)
    }

    // MARK: Leftovers swept

    /// After an atomic replace in `replace.directory`: reads the directory (through a fid walked
    /// from the replace's directory fid), and removes each temporary in it that nothing wrote to
    /// for a minute. Once per directory and attach in a session; the directory fid is clunked at
    /// the end.
    func sweepTemporaries(in replace: BlueReplace, attachID: UInt64) {
        let (directoryFid, directory) = (replace.directoryFid, replace.directory)
        let done: () -> Void = { [unowned self] in sendOwn(.clunk(Tclunk(fid: directoryFid)), releases: directoryFid) { _ in } }
        guard phase == .active, blueSwept.insert("\(attachID)\(replace.directory)").inserted else { return done() }
        let listFid = newBackendFid()
        let sent = sendOwn(.walk(Twalk(fid: directoryFid, newfid: listFid, wnames: [])), creates: listFid) { [unowned self] reply in
            guard case .walk? = reply else { return done() }
            let open: TMessage = dialect == .linux ? .lopen(Tlopen(fid: listFid, flags: Self.linuxDirectory)) : .open(Topen(fid: listFid, mode: 0))
            sendOwn(open) { [unowned self] reply in
                guard reply?.type == .Rlopen || reply?.type == .Ropen else { return listed([], listFid: listFid, directoryFid: directoryFid, directory: directory) }
                readTemporaries(listFid: listFid, directoryFid: directoryFid, directory: directory, offset: 0, found: [])
            }
        }
        if !sent { done() }
    }

    private func readTemporaries(listFid: UInt32, directoryFid: UInt32, directory: CapabilityPath, offset: UInt64, found: [WireString]) {
        // At most the server's msize - 24, as clients ask (P9_READDIRHDRSZ): diod answers more with EIO.
        let count = min(backendIOUnit, 65536)
        let read: TMessage = dialect == .linux ? .readdir(Treaddir(fid: listFid, offset: offset, count: count))
            : .read(Tread(fid: listFid, offset: offset, count: count))
        let sent = sendOwn(read) { [unowned self] reply in
            // Each entry's name, and where the next read starts.
            let listing: (names: [WireString], next: UInt64)?
            switch reply {
            case let .readdir(read)?:
                listing = (try? Dirent.decodeAll(read.data)).flatMap { entries in entries.last.map { (entries.map(\.name), $0.offset) } }
            case let .read(read)? where !read.data.isEmpty:
                listing = (try? Stat.decodeDirectory(read.data, dialect: dialect ?? .plan9)).map { ($0.map(\.name), offset + UInt64(read.data.count)) }
            default:
                listing = nil
            }
            guard let listing, !listing.names.isEmpty else { return listed(found, listFid: listFid, directoryFid: directoryFid, directory: directory) }
            let more = found + listing.names.filter { BlueTemporary.isTemporary($0.bytes) }
            guard more.count < Self.sweepLimit else { return listed(more, listFid: listFid, directoryFid: directoryFid, directory: directory) }
            readTemporaries(listFid: listFid, directoryFid: directoryFid, directory: directory, offset: listing.next, found: more)
        }
        if !sent { listed(found, listFid: listFid, directoryFid: directoryFid, directory: directory) }
    }

    /// The directory is read: each temporary found is looked at (walked to, its mtime asked) and
    /// removed if stale; the directory fid goes when the last is done.
    private func listed(_ names: [WireString], listFid: UInt32, directoryFid: UInt32, directory: CapabilityPath) {
        sendOwn(.clunk(Tclunk(fid: listFid)), releases: listFid) { _ in }
        var left = names.count + 1
        let oneDone: () -> Void = { [unowned self] in
            left -= 1
            if left == 0 { sendOwn(.clunk(Tclunk(fid: directoryFid)), releases: directoryFid) { _ in } }
        }
        for name in names.prefix(Self.sweepLimit) {
            let fid = newBackendFid()
            let sent = sendOwn(.walk(Twalk(fid: directoryFid, newfid: fid, wnames: [name])), creates: fid) { [unowned self] reply in
                guard case let .walk(walk)? = reply, walk.wqids.count == 1 else { return oneDone() }
                let ask: TMessage = dialect == .linux ? .getattr(Tgetattr(fid: fid, requestMask: Self.getattrMtime)) : .stat(Tstat(fid: fid))
                let asked = sendOwn(ask) { [unowned self] reply in
                    let now = UInt64(max(0, access.now().timeIntervalSince1970))
                    let orphaned = host.isOrphanedTemporary(String(decoding: name.bytes, as: UTF8.self))
                    let mtime: UInt64? = switch reply {
                    case let .getattr(attributes)?: attributes.mtimeSec
                    case let .stat(answer)?: UInt64(answer.stat.mtime)
                    default: nil
                    }
                    if let mtime, orphaned || mtime &+ BlueTemporary.staleAfterSeconds < now {
                        let removing = sendOwn(.remove(Tremove(fid: fid)), releases: fid) { [unowned self] reply in
                            if case .remove? = reply {
                                host.temporaryRemoved(String(decoding: name.bytes, as: UTF8.self))
                                host.blueCounted(.staleTemporaryRemoved)
                                host.blueNote("removed a stale temporary", path: "\(directory.appending(String(decoding: name.bytes, as: UTF8.self)))")
                            }
                            oneDone()
                        }
                        if !removing { oneDone() }
                    } else if !sendOwn(.clunk(Tclunk(fid: fid)), releases: fid, then: { _ in oneDone() }) {
                        oneDone()
                    }
                }
                if !asked { oneDone() }
            }
            if !sent { oneDone() }
        }
        oneDone()
    }
}
