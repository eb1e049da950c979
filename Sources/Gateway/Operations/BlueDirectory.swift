import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `--blue-dir`, checked before any session starts: the directory a fid's held bytes spill to
/// past `--blue-memory` (`BlueSpill`, unnamed files: nothing is ever left in it). A directory
/// given must take such files, or the gateway does not start; by default it is a private one
/// under the system temp dir (mode 0700, the user's own), and where that cannot be, held bytes
/// stay in memory (a warning says why).
enum BlueDirectory {
    static func prepare(_ given: String?, logger: Logger) throws(ConfigError) -> String? {
        if let given {
            if let error = probe(given) {
                throw ConfigError(key: "blue-dir", message: "\(given) cannot hold spill files (O_TMPFILE): \(error)")
            }
            return given
        }
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("pebble9p-blue-\(geteuid())")
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            logger.warning("held writes stay in memory: no spill directory", metadata: ["path": "\(path)", "error": "\(String(cString: strerror(errno)))"])
            return nil
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            logger.warning("held writes stay in memory: the spill directory is not a private directory of this user", metadata: ["path": "\(path)"])
            return nil
        }
        if let error = probe(path) {
            logger.warning("held writes stay in memory: the spill directory cannot hold spill files", metadata: ["path": "\(path)", "error": "\(error)"])
            return nil
        }
        return path
    }

    /// Why `directory` cannot hold a spill file, or nil when it can.
    private static func probe(_ directory: String) -> SpillError? {
        if case let .failure(error) = BlueSpill.make(in: directory) { return error }
        return nil
    }
}
