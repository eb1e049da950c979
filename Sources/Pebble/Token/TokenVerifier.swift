import Foundation

/// Checks a presented token: its chain under the key its id names, the revocation list, the
/// caveats (all known, none in conflict), and what depends on the moment and on the client.
/// Any gateway holding the keys verifies any token alone: nothing is shared but the key file.
public struct TokenVerifier: Sendable {
    public var keys: TokenKeys
    /// Revoked token ids (hex).
    public var revoked: Set<String>

    public init(keys: TokenKeys, revoked: Set<String> = []) {
        self.keys = keys
        self.revoked = revoked
    }

    /// The capability `text` grants to this client now, or why it grants nothing. The token id is
    /// returned with the error when the token parsed, for the audit log.
    public func verify(_ text: String, now: Date, identity: ClientIdentity?, peerHost: String?)
        -> Result<Capability, Refusal> {
        let token: CapabilityToken
        do { token = try CapabilityToken(text: text) } catch { return .failure(Refusal(error: error, tokenID: nil)) }
        do {
            let capability = try verify(token)
            try capability.check(now: now, identity: identity, peerHost: peerHost)
            return .success(capability)
        } catch {
            return .failure(Refusal(error: error, tokenID: token.idHex))
        }
    }

    /// The chain, the revocation list and the caveats; not the moment or the client.
    public func verify(_ token: CapabilityToken) throws(TokenError) -> Capability {
        guard let key = keys.keys[token.keyID] else { throw .unknownKey(token.keyID) }
        guard token.hasValidTag(key: key) else { throw .badTag }
        guard !revoked.contains(token.idHex) else { throw .revoked }
        return try Capability(tokenID: token.idHex, caveats: token.parsedCaveats())
    }

    public struct Refusal: Error, Sendable, Equatable {
        public let error: TokenError
        public let tokenID: String?
    }
}
