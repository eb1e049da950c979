/// Why a token is refused. The description is what the audit log and `token verify` say; it
/// never contains the token itself.
public enum TokenError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not a token of this version, or its bytes do not parse.
    case malformed(String)
    /// No key with the token's key id.
    case unknownKey(String)
    /// The tag does not match: forged, tampered with, or minted under another key.
    case badTag
    case expired
    case revoked
    /// A `client` caveat names another identity.
    case wrongClient
    /// A `from` caveat does not contain the peer's address.
    case wrongAddress
    /// A caveat this gateway does not know (refused: fail closed).
    case unknownCaveat(String)
    /// A caveat whose value does not parse.
    case badCaveat(String)
    /// Two caveats that cannot both hold (another backend or uname, a path outside an earlier one).
    case conflict(String)

    /// Whether the token is not one a key holder made (as opposed to a genuine one refused).
    public var isForgery: Bool {
        switch self {
        case .malformed, .badTag: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .malformed(why): "malformed token: \(why)"
        case let .unknownKey(kid): "unknown key id \(kid)"
        case .badTag: "bad tag (forged or tampered with)"
        case .expired: "expired"
        case .revoked: "revoked"
        case .wrongClient: "client caveat does not match this client"
        case .wrongAddress: "from caveat does not contain the peer address"
        case let .unknownCaveat(key): "unknown caveat \(key)"
        case let .badCaveat(text): "bad caveat value: \(text)"
        case let .conflict(why): "caveats conflict: \(why)"
        }
    }
}
