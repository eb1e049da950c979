/// Who a session's client is, as later policy (capability tokens, budgets) keys on it: the subject
/// of a verified client certificate, or else the address it connected from. A value, no I/O: the
/// gateway reads the certificate's names and hands them here.
public struct ClientIdentity: Sendable, Hashable, CustomStringConvertible {
    /// Where the name came from.
    public enum Source: String, Sendable {
        /// The certificate's first subjectAltName URI (e.g. spiffe://example.org/alice).
        case certificateURI = "uri"
        /// Its first subjectAltName DNS name.
        case certificateDNS = "dns"
        /// Its subject's common name.
        case certificateCN = "cn"
        /// No verified certificate: the peer's address (HOST:PORT).
        case peerAddress = "peer"
    }

    public let source: Source
    public let name: String

    public init(source: Source, name: String) {
        self.source = source
        self.name = name
    }

    /// `uri:spiffe://…`, `dns:alice.example.org`, `cn:alice`, `peer:127.0.0.1:40000`.
    public var description: String { "\(source.rawValue):\(name)" }

    /// Whether a verified certificate vouches for the name.
    public var isAuthenticated: Bool { source != .peerAddress }

    /// The identity a verified certificate gives: its first SAN URI, else its first SAN DNS name,
    /// else its subject's CN; nil when it has none of them (empty names do not count).
    public static func fromCertificate(uris: [String], dnsNames: [String], commonName: String?) -> ClientIdentity? {
        if let uri = uris.first(where: { !$0.isEmpty }) { return ClientIdentity(source: .certificateURI, name: uri) }
        if let dns = dnsNames.first(where: { !$0.isEmpty }) { return ClientIdentity(source: .certificateDNS, name: dns) }
        if let commonName, !commonName.isEmpty { return ClientIdentity(source: .certificateCN, name: commonName) }
        return nil
    }

    /// The identity of a client without a verified certificate.
    public static func peer(_ address: String) -> ClientIdentity {
        ClientIdentity(source: .peerAddress, name: address)
    }
}
