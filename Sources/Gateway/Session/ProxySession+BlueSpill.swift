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
        guard let settings = access.blue, let directory = settings.spillDirectory, let held = blue[backendFid]?.file.byteCount else { return nil }
        if blue[backendFid]?.spill == nil {
            guard held &+ data.count > settings.memoryPerFid, !blueSpillUnavailable else { return nil }
            guard let spill = makeSpill(backendFid, in: directory) else { return nil }
            blue[backendFid]?.spill = spill
            blue[backendFid]?.file.spill()
            host.blueCounted(.spilled)
        }
        guard let spill = blue[backendFid]?.spill else { return nil }
        guard BlueSpill.fits(offset: offset, count: data.count) else { return SpillError(errno: EFBIG) }
        if case let .failure(error) = spill.write(data, at: offset) { return error }
        return nil
    }

    /// A spill file holding what the fid holds so far, or nil (the bytes stay in memory, and the
    /// session stops trying; a log line says why).
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
