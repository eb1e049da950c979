import Foundation
import Synchronization

/// One live session as `/sessions` lists it (and `pebble9p sessions` reads it).
public struct SessionSummary: Codable, Sendable, Equatable {
    public var session: UInt64
    public var peer: String
    public var identity: String
    public var tokenID: String?
    public var dialect: String?
    public var msize: UInt32
    public var fids: Int
    public var requests: Int
    public var bytesIn: Int
    public var bytesOut: Int
    /// Bytes held for the session against its quota, and that quota (nil: none).
    public var bytesHeld: Int
    public var quota: Int?
    /// The session's own rate limits (nil: none).
    public var rateOps: Double?
    public var rateBytes: Double?
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case session, peer, identity, tokenID = "token_id", dialect, msize, fids, requests
        case bytesIn = "bytes_in", bytesOut = "bytes_out", bytesHeld = "bytes_held", quota
        case rateOps = "rate_ops", rateBytes = "rate_bytes", seconds
    }
}

/// What `/sessions` lists: each live session's latest summary, published by its loop when it
/// starts, about once a second while it lives, and removed when it ends.
final class SessionDirectory: Sendable {
    private let entries = Mutex<[UInt64: SessionSummary]>([:])

    func publish(_ entry: SessionSummary) { entries.withLock { $0[entry.session] = entry } }
    func remove(_ session: UInt64) { entries.withLock { $0[session] = nil } }

    /// The live sessions as a JSON array, oldest first.
    func json() -> String {
        let list = entries.withLock { Array($0.values) }.sorted { $0.session < $1.session }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(list)).map { String(decoding: $0, as: UTF8.self) + "\n" } ?? "[]\n"
    }
}
