import Pebble
import Synchronization

/// The token keys and revocation list as sessions see them: read when a session starts, replaced
/// whole on SIGHUP (a bad file keeps the old material, and the error names it).
final class TokenMaterial: Sendable {
    let keyFile: String
    let revokedFile: String?
    private let verifier: Mutex<TokenVerifier>

    init(keyFile: String, revokedFile: String?) throws(ConfigError) {
        self.keyFile = keyFile
        self.revokedFile = revokedFile
        verifier = Mutex(try Self.load(keyFile: keyFile, revokedFile: revokedFile))
    }

    var current: TokenVerifier { verifier.withLock { $0 } }

    /// Reads both files again; returns the revoked ids, for cutting off live sessions.
    @discardableResult
    func reload() throws(ConfigError) -> Set<String> {
        let fresh = try Self.load(keyFile: keyFile, revokedFile: revokedFile)
        verifier.withLock { $0 = fresh }
        return fresh.revoked
    }

    private static func load(keyFile: String, revokedFile: String?) throws(ConfigError) -> TokenVerifier {
        do {
            let keys = try TokenFiles.loadKeys(keyFile)
            let revoked = try revokedFile.map { path throws(TokenFiles.FileError) in try TokenFiles.loadRevoked(path) } ?? []
            return TokenVerifier(keys: keys, revoked: revoked)
        } catch {
            throw ConfigError(key: error.path == keyFile ? "token-keys" : "revoked", message: error.description)
        }
    }
}
