import Foundation
import NineP
import Pebble

/// Held bytes past `--blue-memory` go to a spill file (`BlueSpill`) in `--blue-dir`: the fid's
/// `BlueFile` keeps only where they are, and reads and the commit take them from the file. A
/// fid's first write past the limit makes the file and moves what it held there; the commit
/// takes the file with it (new writes start in memory again). Without a usable directory the
/// bytes stay in memory (said once per session).
extension ProxySession {
    /// Writes a held write's bytes to the fid's spill file when it has one, or makes one when the
    /// fid passes `--blue-memory` with this write. An error only when the bytes could not be
    /// written to a spill file the fid has (the write then fails).
    func spillHeld(_ backendFid: UInt32, _ data: UnsafeRawBufferPointer, at offset: UInt64) -> SpillError? {
        guard let settings = access.blue, let held = blue[backendFid]?.file.byteCount else { return nil }
        if blue[backendFid]?.spill == nil && held &+ data.count <= settings.memoryPerFid { return nil }
        guard let spill = spill(of: backendFid) else { return nil }
        guard BlueSpill.fits(offset: offset, count: data.count) else { return SpillError(errno: EFBIG) }
        if case let .failure(error) = spill.write(data, at: offset) { return error }
        return nil
    }

    /// The fid's spill file; made now (what the fid holds moved there) if it has none. Nil when
    /// there is no directory or none could be made (the bytes stay in memory, and the session
    /// stops trying; a log line says why).
    private func spill(of backendFid: UInt32) -> BlueSpill? {
        if let spill = blue[backendFid]?.spill { return spill }
        guard let directory = access.blue?.spillDirectory, !blueSpillUnavailable, let spill = makeSpill(backendFid, in: directory) else { return nil }
        blue[backendFid]?.spill = spill
        blue[backendFid]?.file.spill()
        host.blueCounted(.spilled)
        return spill
    }

    /// A spill file holding what the fid holds so far, or nil (a log line says why).
    private func makeSpill(_ backendFid: UInt32, in directory: String) -> BlueSpill? {
        let path = blue[backendFid]?.path.map { "\($0)" } ?? "?"
        switch BlueSpill.make(in: directory) {
        case let .failure(error):
            blueSpillUnavailable = true
            host.blueNote("held in memory: no spill file in \(directory): \(error)", path: path)
            return nil
        case let .success(spill):
            for extent in blue[backendFid]?.file.extents ?? [] {
                let written = extent.bytes.withUnsafeBytes { spill.write($0, at: extent.offset) }
                if case let .failure(error) = written {
                    blueSpillUnavailable = true
                    host.blueNote("held in memory: the spill file in \(directory) failed: \(error)", path: path)
                    return nil
                }
            }
            return spill
        }
    }

    // MARK: Held writes spliced into the spill file

    /// A held Twrite whose data goes socket → pipe → spill file, answered once it is all there.
    struct SplicedHold {
        let tag: UInt16
        let backendFid: UInt32
        let offset: UInt64
        let count: Int
        let spill: BlueSpill
        /// Where the spliced bytes go: after those that came with the head.
        let spliceAt: UInt64
        /// The spill file refused the data (the errno): the write fails.
        var failure: Int32?
    }

    /// Whether the Twrite whose head this is (its data still to come) is one a fid would hold in
    /// its spill file as it is: no commit or stream under way, within `--blue-max`, not over bytes
    /// it already holds (a write cut short must leave them as they were), and the fid spilled or
    /// spilling with it. Such a write's head may go to `clientFrame` with its payload to follow.
    func splicesIntoSpill(_ head: UnsafeRawBufferPointer, rest: Int) -> Bool {
        guard let settings = access.blue, settings.spillDirectory != nil, !blueSpillUnavailable, head.count >= NineP.twriteHeaderSize,
              let record = fids.lookup(FramePatch.u32(at: 7, in: head)), let state = blue[record.backendFid],
              state.commit == nil, state.stream == nil, !state.writeThrough else { return false }
        let offset = FramePatch.u64(at: NineP.ioOffsetOffset, in: head), count = Int(FramePatch.u32(at: NineP.ioCountOffset, in: head))
        guard count == head.count &- NineP.twriteHeaderSize &+ rest, BlueSpill.fits(offset: offset, count: count) else { return false }
        let held = state.file.byteCount
        guard held &+ count <= streamsPast(state), state.spill != nil || held &+ count > settings.memoryPerFid else { return false }
        return !state.file.holdsAny(offset: offset, count: count)
    }

    /// The head of a Twrite `splicesIntoSpill` took, past the policy: within the budgets its data is
    /// to go to the spill file (made now if the fid has none; `arrived`, the data that came with the
    /// head, written there now), else the write is refused (its data dropped by the host). Either
    /// way it is handled.
    func holdSpliced(_ backendFid: UInt32, tag: UInt16, offset: UInt64, count: Int, arrived: UnsafeRawBufferPointer) -> BlueAction {
        guard blueFits(count) else {
            refuse(ProxyError(errno: 28, message: "No space left on device", detail: "blue: more than the session may hold"), tag: tag, subject: nil)
            return .handled
        }
        guard let spill = spill(of: backendFid), arrived.count < count else {
            refuse(SpillError.unreadable.proxyError, tag: tag, subject: nil)
            return .handled
        }
        if !arrived.isEmpty, case let .failure(error) = spill.write(arrived, at: offset) {
            refuse(error.proxyError, tag: tag, subject: nil)
            return .handled
        }
        blueBytes &+= count
        pendingSplicedHold = SplicedHold(tag: tag, backendFid: backendFid, offset: offset, count: count, spill: spill,
                                         spliceAt: offset &+ UInt64(arrived.count))
        return .handled
    }

    /// The hold the host is to splice data for (once: it is the host's from then on).
    func takeSplicedHold() -> SplicedHold? {
        defer { pendingSplicedHold = nil }
        return pendingSplicedHold
    }

    /// The spliced data is all in the spill file (or the hold's `failure` says why not, the write
    /// failing): the write is held, and answered.
    func splicedHoldEnded(_ hold: SplicedHold) {
        blueBytes &-= hold.count
        guard blue[hold.backendFid]?.spill === hold.spill else { return }
        if let failure = hold.failure { return refuse(SpillError(errno: failure).proxyError, tag: hold.tag, subject: nil) }
        let held = blue[hold.backendFid]?.file.byteCount ?? 0
        blue[hold.backendFid]?.file.recordSpilled(offset: hold.offset, count: hold.count)
        blueBytes &+= (blue[hold.backendFid]?.file.byteCount ?? held) &- held
        host.blueCounted(.heldWrite)
        sendToClient(.write(Rwrite(count: UInt32(hold.count))), tag: hold.tag)
    }

    /// The client went away in the middle of the data: nothing of the write is held (what reached
    /// the spill file is dropped with the rest the fid held).
    func splicedHoldDropped(_ hold: SplicedHold) {
        blueBytes &-= hold.count
    }

    /// A read through held layers (a commit's under way, then the fid's), each over the one
    /// before, `server` being the server's bytes; nil when a spill file could not be read.
    static func heldRead(_ layers: [(file: BlueFile, spill: BlueSpill?)], at offset: UInt64, count: Int, server: [UInt8]) -> [UInt8]? {
        var data = server
        var readable = true
        for layer in layers {
            data = data.withUnsafeBytes { below in
                layer.file.read(at: offset, count: count, server: below) { from, into in
                    if layer.spill?.read(into: into, at: from) != true { readable = false }
                }
            }
        }
        return readable ? data : nil
    }
}
