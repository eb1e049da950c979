import Foundation

/// A macaroon-style capability token (Birgisson et al., "Macaroons", NDSS 2014): a key id, a
/// random token id, ordered caveats and an HMAC-SHA256 chain over them:
/// `tag0 = HMAC(rootKey[kid], id)`, `tag_i = HMAC(tag_{i-1}, caveat_i)`.
/// Whoever holds a token can append a caveat and re-tag it without the root key, and can only
/// narrow it, since every caveat must hold; only a holder of the root key can check the chain.
///
/// Text form: `pebble1.` and base64url without padding of: version[1] kid[s1] id[s1] ncaveats[1]
/// caveat[s2]… tag[32] (s1: a length byte, s2: a little-endian u16 length, then UTF-8). It has no
/// `,` `=` or spaces, so it fits a Linux mount option (`aname=TOKEN`).
public struct CapabilityToken: Sendable, Equatable {
    public let keyID: String
    /// Random bytes; shown as hex, and what logs and the revocation list name.
    public let id: [UInt8]
    /// Canonical caveat texts, in order.
    public private(set) var caveats: [String]
    public private(set) var tag: [UInt8]

    public static let prefix = "pebble1."
    static let version: UInt8 = 1
    static let idSize = 16
    static let maxCaveats = 64

    public var idHex: String { id.map { String(format: "%02x", $0) }.joined() }

    /// Mints a new token under `key`, with a fresh random id.
    public static func mint(key: [UInt8], keyID: String, caveats: [Caveat]) throws(TokenError) -> CapabilityToken {
        guard TokenKeys.isValidKeyID(keyID) else { throw .malformed("bad key id") }
        guard let id = TokenCrypto.randomBytes(idSize) else { throw .malformed("no random bytes") }
        var token = CapabilityToken(keyID: keyID, id: id, caveats: [], tag: TokenCrypto.hmac(key: key, id))
        for caveat in caveats { try token.attenuate(caveat) }
        return token
    }

    /// Appends a caveat and re-tags: no key needed.
    public mutating func attenuate(_ caveat: Caveat) throws(TokenError) {
        guard caveats.count < Self.maxCaveats else { throw .malformed("more than \(Self.maxCaveats) caveats") }
        let text = caveat.description
        guard text.utf8.count <= Int(UInt16.max) else { throw .badCaveat("caveat too long") }
        caveats.append(text)
        tag = TokenCrypto.hmac(key: tag, Array(text.utf8))
    }

    /// Whether the chain ends in this token's tag under `key` (constant-time comparison).
    public func hasValidTag(key: [UInt8]) -> Bool {
        var expected = TokenCrypto.hmac(key: key, id)
        for caveat in caveats { expected = TokenCrypto.hmac(key: expected, Array(caveat.utf8)) }
        return TokenCrypto.constantTimeEqual(expected, tag)
    }

    // MARK: Text form

    public var text: String {
        var bytes: [UInt8] = [Self.version]
        bytes.append(UInt8(keyID.utf8.count))
        bytes += Array(keyID.utf8)
        bytes.append(UInt8(id.count))
        bytes += id
        bytes.append(UInt8(caveats.count))
        for caveat in caveats {
            let utf8 = Array(caveat.utf8)
            bytes += [UInt8(utf8.count & 0xFF), UInt8(utf8.count >> 8)]
            bytes += utf8
        }
        bytes += tag
        return Self.prefix + Base64URL.encode(bytes)
    }

    /// Whether `text` looks like a token (its prefix), so an aname or uname that is not one is
    /// left alone.
    public static func looksLikeToken(_ text: String) -> Bool { text.hasPrefix(prefix) }

    public init(text: String) throws(TokenError) {
        guard text.hasPrefix(Self.prefix) else { throw .malformed("not a pebble9p token") }
        let encoded = String(text.dropFirst(Self.prefix.count))
        // One text per token: base64 leaves spare bits in a last partial group, which must be zero.
        guard let bytes = Base64URL.decode(encoded), Base64URL.encode(bytes) == encoded else { throw .malformed("bad base64url") }
        var reader = ByteReader(bytes: bytes)
        guard reader.byte() == Self.version else { throw .malformed("unknown version") }
        guard let kidBytes = reader.bytes(count: reader.byte().map(Int.init)), let kid = String(bytes: kidBytes, encoding: .utf8),
              TokenKeys.isValidKeyID(kid)
        else { throw .malformed("bad key id") }
        guard let id = reader.bytes(count: reader.byte().map(Int.init)), id.count == Self.idSize else { throw .malformed("bad id") }
        guard let count = reader.byte(), Int(count) <= Self.maxCaveats else { throw .malformed("bad caveat count") }
        var caveats: [String] = []
        for _ in 0..<count {
            guard let low = reader.byte(), let high = reader.byte(),
                  let utf8 = reader.bytes(count: Int(low) | Int(high) << 8), let caveat = String(bytes: utf8, encoding: .utf8)
            else { throw .malformed("bad caveat") }
            caveats.append(caveat)
        }
        guard let tag = reader.bytes(count: TokenCrypto.tagSize), reader.isAtEnd else { throw .malformed("bad tag") }
        self.init(keyID: kid, id: id, caveats: caveats, tag: tag)
    }

    init(keyID: String, id: [UInt8], caveats: [String], tag: [UInt8]) {
        self.keyID = keyID
        self.id = id
        self.caveats = caveats
        self.tag = tag
    }

    /// The caveats, parsed; the first unknown or bad one refuses the token.
    public func parsedCaveats() throws(TokenError) -> [Caveat] {
        var parsed: [Caveat] = []
        for text in caveats { parsed.append(try Caveat.parse(text)) }
        return parsed
    }
}

/// Reads a token's bytes front to back; every read is bounds-checked.
private struct ByteReader {
    let bytes: [UInt8]
    var position = 0

    var isAtEnd: Bool { position == bytes.count }

    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func bytes(count: Int?) -> [UInt8]? {
        guard let count, count >= 0, count <= bytes.count - position else { return nil }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }
}
