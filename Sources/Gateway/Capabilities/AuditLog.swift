import Foundation
import Pebble

/// Security events as JSON lines (`--audit FILE`, else stderr), one `write` each, so lines from
/// every loop stay whole. Tokens are never written: events name them by id.
final class AuditLog: Sendable {
    private let fd: Int32

    /// Opens `path` for appending (created with mode 0600); nil: stderr.
    init(path: String?) throws(ConfigError) {
        guard let path else {
            fd = STDERR_FILENO
            return
        }
        let opened = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard opened >= 0 else { throw ConfigError(key: "audit", message: "\(path): \(String(cString: strerror(errno)))") }
        fd = opened
    }

    deinit {
        if fd != STDERR_FILENO { close(fd) }
    }

    struct Line: Encodable {
        let time: String
        let event: String
        let budget: String?
        let session: UInt64
        let peer: String
        let identity: String
        let tokenID: String?
        let fid: UInt32?
        let path: String?
        let detail: String

        enum CodingKeys: String, CodingKey {
            case time, event, budget, session, peer, identity, tokenID = "token_id", fid, path, detail
        }
    }

    func record(_ event: AuditEvent, session: UInt64, peer: String, identity: ClientIdentity, at time: Date = Date()) {
        let line = Line(time: Self.timestamp(time), event: event.kind.rawValue, budget: event.budget?.rawValue, session: session, peer: peer,
                        identity: identity.description, tokenID: event.tokenID, fid: event.fid, path: event.path, detail: event.detail)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var bytes = try? encoder.encode(line) else { return }
        bytes.append(0x0A)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// RFC 3339 with milliseconds, UTC.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
