import Foundation

/// What a verified token grants: the intersection of all its caveats. A session attached with a
/// token carries it, and every fid it makes is confined by it.
public struct Capability: Sendable, Equatable {
    /// The token's id (logged instead of the token).
    public var tokenID: String
    public var backend: String?
    /// The subtree every fid stays inside, below the backend's export.
    public var root = CapabilityPath.root
    public var rights = Rights.all
    public var expires: Date?
    public var uname: String?
    public var clients: [String] = []
    public var from: [AddressRange] = []
    public var maxFids: Int?
    public var quota: Int?
    public var rateOps: Int?
    public var rateBytes: Int?

    /// Folds the caveats in order; each can only narrow what the ones before it left.
    public init(tokenID: String, caveats: [Caveat]) throws(TokenError) {
        self.tokenID = tokenID
        var sawPath = false
        for caveat in caveats {
            switch caveat {
            case let .backend(name):
                if let backend, backend != name { throw .conflict("backend \(name) after \(backend)") }
                backend = name
            case let .path(text):
                guard let path = CapabilityPath(text) else { throw .badCaveat(caveat.description) }
                if sawPath && !path.isInside(root) { throw .conflict("path \(path) is not inside \(root)") }
                root = path
                sawPath = true
            case let .rights(granted): rights.formIntersection(granted)
            case let .expires(date): expires = min(expires ?? date, date)
            case let .uname(name):
                if let uname, uname != name { throw .conflict("uname \(name) after \(uname)") }
                uname = name
            case let .client(identity): clients.append(identity)
            case let .from(range): from.append(range)
            case let .fids(count): maxFids = min(maxFids ?? count, count)
            case let .quota(bytes): quota = min(quota ?? bytes, bytes)
            case let .rateOps(count): rateOps = min(rateOps ?? count, count)
            case let .rateBytes(bytes): rateBytes = min(rateBytes ?? bytes, bytes)
            }
        }
    }

    /// Checks what depends on the moment and on who presents it.
    public func check(now: Date, identity: ClientIdentity?, peerHost: String?) throws(TokenError) {
        if let expires, now >= expires { throw .expired }
        for client in clients where !Self.matches(client, identity) { throw .wrongClient }
        for range in from where !(peerHost.map(range.contains) ?? false) { throw .wrongAddress }
    }

    /// A `client` caveat names the identity by its full form (`uri:…`), its bare name, or for a
    /// peer-address identity the address without its port.
    static func matches(_ client: String, _ identity: ClientIdentity?) -> Bool {
        guard let identity else { return false }
        if client == identity.description || client == identity.name { return true }
        guard identity.source == .peerAddress, let colon = identity.name.lastIndex(of: ":") else { return false }
        let host = identity.name[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return client == host
    }
}
