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
            sendOwn(.lopen(Tlopen(fid: listFid, flags: Self.linuxDirectory))) { [unowned self] reply in
                guard case .lopen? = reply else { return listed([], listFid: listFid, directoryFid: directoryFid, directory: directory) }
                readTemporaries(listFid: listFid, directoryFid: directoryFid, directory: directory, offset: 0, found: [])
            }
        }
        if !sent { done() }
    }

    private func readTemporaries(listFid: UInt32, directoryFid: UInt32, directory: CapabilityPath, offset: UInt64, found: [WireString]) {
        // At most the server's msize - 24, as clients ask (P9_READDIRHDRSZ): diod answers more with EIO.
        let count = min(backendIOUnit, 65536)
        let sent = sendOwn(.readdir(Treaddir(fid: listFid, offset: offset, count: count))) { [unowned self] reply in
            guard case let .readdir(read)? = reply, let entries = try? Dirent.decodeAll(read.data), let last = entries.last else {
                return listed(found, listFid: listFid, directoryFid: directoryFid, directory: directory)
            }
            let more = found + entries.map(\.name).filter { BlueTemporary.isTemporary($0.bytes) }
            guard more.count < Self.sweepLimit else { return listed(more, listFid: listFid, directoryFid: directoryFid, directory: directory) }
            readTemporaries(listFid: listFid, directoryFid: directoryFid, directory: directory, offset: last.offset, found: more)
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
                let asked = sendOwn(.getattr(Tgetattr(fid: fid, requestMask: Self.getattrMtime))) { [unowned self] reply in
                    let now = UInt64(max(0, access.now().timeIntervalSince1970))
                    let orphaned = host.isOrphanedTemporary(String(decoding: name.bytes, as: UTF8.self))
                    if case let .getattr(attributes)? = reply, orphaned || attributes.mtimeSec &+ BlueTemporary.staleAfterSeconds < now {
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
