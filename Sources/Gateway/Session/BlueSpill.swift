import CShims
import Foundation
import Pebble
#if canImport(Glibc)
import Glibc
#endif

/// Where a Blue fid's held bytes go past `--blue-memory` (`BlueFile.spill()`): an unnamed file in
/// `--blue-dir` (O_TMPFILE, so nothing is left behind whatever happens to the gateway), sparse,
/// each byte at its own offset in the client's file, so a write is one pwrite and a read of held
/// bytes one pread. The file goes when the last holder lets go (the fid's state, or its commit).
///
/// The calls are plain file I/O on the loop's thread: the file is the kernel's page cache until
/// memory is short, which is when it was wanted.
final class BlueSpill {
    let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// A new spill file in `directory`, or the errno why not.
    static func make(in directory: String) -> Result<BlueSpill, SpillError> {
        let fd = pebble_open_tmpfile(directory)
        guard fd >= 0 else { return .failure(SpillError(errno: errno)) }
        return .success(BlueSpill(fd: fd))
    }

    /// Writes `bytes` at `offset`, whole, or fails.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Result<Void, SpillError> {
        var done = 0
        while done < bytes.count {
            let wrote = pwrite(fd, bytes.baseAddress!.advanced(by: done), bytes.count - done, off_t(truncatingIfNeeded: offset &+ UInt64(done)))
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else { return .failure(SpillError(errno: wrote < 0 ? errno : ENOSPC)) }
            done += wrote
        }
        return .success(())
    }

    /// Fills `buffer` from `offset`; false if the file could not give it all.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Bool {
        var done = 0
        while done < buffer.count {
            let got = pread(fd, buffer.baseAddress!.advanced(by: done), buffer.count - done, off_t(truncatingIfNeeded: offset &+ UInt64(done)))
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return false }
            done += got
        }
        return true
    }

    /// `count` bytes from `offset`, or nil.
    func read(count: Int, at offset: UInt64) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let whole = bytes.withUnsafeMutableBytes { read(into: $0, at: offset) }
        return whole ? bytes : nil
    }

    /// Whether a file can be written at `offset` + `count` (the file system's largest file).
    static func fits(offset: UInt64, count: Int) -> Bool { offset <= UInt64(Int64.max) - UInt64(count) }
}

/// A spill file could not be made or written (the errno).
struct SpillError: Error, CustomStringConvertible {
    let errno: Int32
    var description: String { String(cString: strerror(errno)) }

    /// The spill file could not give back what it holds.
    static let unreadable = SpillError(errno: EIO)

    /// What the client's request (or the commit) fails with.
    var proxyError: ProxyError { ProxyError(errno: UInt32(errno), message: description, detail: "blue spill file") }
}
