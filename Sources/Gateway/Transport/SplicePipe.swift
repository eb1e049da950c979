import CShims
import Foundation

/// A kernel pipe that payload bytes pass through on their way from one socket to another:
/// splice(2) moves pages socket → pipe → socket, so the gateway never copies them.
final class SplicePipe {
    let readFd: Int32
    let writeFd: Int32
    /// Bytes the pipe holds at most (F_GETPIPE_SZ).
    let capacity: Int

    /// Makes a pipe of about `capacity` bytes; nil when the process is out of fds.
    init?(capacity wanted: Int) {
        var fds: [Int32] = [-1, -1]
        let capacity = pebble_pipe(&fds, Int32(clamping: wanted))
        guard capacity > 0 else { return nil }
        readFd = fds[0]
        writeFd = fds[1]
        self.capacity = Int(capacity)
    }

    deinit {
        Foundation.close(readFd)
        Foundation.close(writeFd)
    }
}

/// The pipes of one event loop. A transfer takes one and gives it back empty, so a loop keeps a
/// few pipes however many sessions it serves; a pipe given back with bytes in it is dropped.
final class PipePool {
    /// 1 MiB, the default msize cap: a whole payload fits, so a slow client never leaves a backend
    /// connection half-read (the kernel may grant less; `SplicePipe.capacity` says what it gave).
    static let pipeCapacity = 1 << 20
    /// Idle pipes kept per loop.
    private static let keep = 4
    private var idle: [SplicePipe] = []

    /// A pipe holding at least `bytes`, or nil when none does.
    func take(holding bytes: Int) -> SplicePipe? {
        guard bytes <= Self.pipeCapacity else { return nil }
        if let pipe = idle.popLast() { return pipe }
        guard let pipe = SplicePipe(capacity: Self.pipeCapacity), pipe.capacity >= bytes else { return nil }
        return pipe
    }

    /// Takes back an empty pipe. Only full-size ones are kept: the kernel may grant less than
    /// asked (a user over `pipe-user-pages-soft` gets one-page pipes).
    func give(_ pipe: SplicePipe) {
        if idle.count < Self.keep && pipe.capacity >= Self.pipeCapacity { idle.append(pipe) }
    }
}
