import Foundation
import Synchronization

/// What `/sessions` lists: each live session's latest summary, published by its loop when it
/// starts, about once a second while it lives, and removed when it ends.
final class SessionDirectory: Sendable {
    struct Entry: Codable, Sendable, Equatable {
        var session: UInt64
        var peer: String
        var identity: String
        var tokenID: String?
        var dialect: String?
        var msize: UInt32
        var fids: Int
        var requests: Int
        var bytesIn: Int
        var bytesOut: Int
        var seconds: Double

        enum CodingKeys: String, CodingKey {
            case session, peer, identity, tokenID = "token_id", dialect, msize, fids, requests
            case bytesIn = "bytes_in", bytesOut = "bytes_out", seconds
        }
    }

    private let entries = Mutex<[UInt64: Entry]>([:])

    func publish(_ entry: Entry) { entries.withLock { $0[entry.session] = entry } }
    func remove(_ session: UInt64) { entries.withLock { $0[session] = nil } }

    /// The live sessions as a JSON array, oldest first.
    func json() -> String {
        let list = entries.withLock { Array($0.values) }.sorted { $0.session < $1.session }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(list)).map { String(decoding: $0, as: UTF8.self) + "\n" } ?? "[]\n"
    }
}
