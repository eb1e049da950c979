import Foundation
import Pebble

/// The files behind capability tokens: the key file (mode 0600, enforced: a key others can read
/// lets them mint any token) and the list of revoked token ids. Both are re-read on SIGHUP.
public enum TokenFiles {
    public struct FileError: Error, CustomStringConvertible {
        public let path: String
        public let message: String
        public var description: String { "\(path): \(message)" }
    }

    /// Reads a key file; refuses one that group or others may read or write.
    public static func loadKeys(_ path: String) throws(FileError) -> TokenKeys {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileError(path: path, message: String(cString: strerror(errno))) }
        guard info.st_mode & 0o077 == 0 else {
            throw FileError(path: path, message: "mode \(String(info.st_mode & 0o777, radix: 8)): a key file must be readable by its owner only (chmod 600)")
        }
        let text = try read(path)
        do { return try TokenKeys(parsing: text) } catch { throw FileError(path: path, message: error.description) }
    }

    /// Writes a key file with mode 0600: a temporary file in the same directory, renamed over it.
    public static func saveKeys(_ keys: TokenKeys, to path: String) throws(FileError) {
        let temporary = path + ".new-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError(path: temporary, message: String(cString: strerror(errno))) }
        let bytes = Array(keys.text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw FileError(path: path, message: message)
        }
    }

    /// Revoked token ids, one hex id per line; blank lines and `#` comments ignored.
    public static func loadRevoked(_ path: String) throws(FileError) -> Set<String> {
        var ids: Set<String> = []
        for (index, line) in try read(path).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let id = (line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                .trimmingCharacters(in: .whitespaces).lowercased()
            if id.isEmpty { continue }
            guard id.count == 32, id.allSatisfy(\.isHexDigit) else {
                throw FileError(path: path, message: "line \(index + 1): expected a token id (32 hex digits)")
            }
            ids.insert(id)
        }
        return ids
    }

    static func read(_ path: String) throws(FileError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError(path: path, message: "cannot read")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw FileError(path: path, message: "not UTF-8") }
        return text
    }
}
