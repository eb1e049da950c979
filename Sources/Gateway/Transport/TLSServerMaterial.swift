import Synchronization

/// The server's TLS context as loops see it: read at every accept, replaced whole on SIGHUP.
/// Sessions already running keep the context they started with (OpenSSL counts its references),
/// so a reload never touches a live session.
final class TLSServerMaterial: Sendable {
    private let context: Mutex<TLSServerContext>
    let settings: TLSSettings

    init(_ settings: TLSSettings) throws(ConfigError) {
        self.settings = settings
        context = Mutex(try TLSServerContext(settings))
    }

    /// The context new handshakes use.
    var current: TLSServerContext { context.withLock { $0 } }

    /// Reads certificate, key and CA again; on any error the old context stays and the error,
    /// which names the file, is thrown.
    func reload() throws(ConfigError) {
        let fresh = try TLSServerContext(settings)
        context.withLock { $0 = fresh }
    }
}
