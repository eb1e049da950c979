import Foundation
import Logging

/// What `pebble9p tunnel` is told.
public struct TunnelConfig: Sendable, Equatable {
    /// Where local plain-9P clients connect.
    public var listen = ["127.0.0.1:5640"]
    /// The gateway's TLS address, HOST:PORT.
    public var connect: String = ""
    /// CA certificates the gateway's certificate must chain to.
    public var caFile: String = ""
    /// This side's client certificate and key, for a gateway that wants one.
    public var certificateFile: String?
    public var keyFile: String?
    /// The name the gateway's certificate must carry (and SNI); default the host of `connect`.
    public var serverName: String?
    public var tlsMin = "1.3"
    public var loops = GatewayConfig.defaultLoops
    public var maxConns = 1024
    public var queueLimit = 4 << 20
    public var handshakeTimeout = 30
    public var logLevel = "info"

    public init() {}

    /// The name checked against the gateway's certificate.
    public func resolvedServerName() throws(ConfigError) -> String {
        if let serverName { return serverName }
        return try SocketAddress.split(hostPort: connect).host
    }

    /// Checks the values, and loads the CA and certificate as running would (a bad file is named).
    public func validate() throws(ConfigError) {
        guard !connect.isEmpty else { throw ConfigError(key: "connect", message: "the gateway's TLS address is required") }
        do {
            _ = try SocketAddress.resolve(hostPort: connect)
            for address in listen { _ = try SocketAddress.resolve(hostPort: address) }
        }
        guard !caFile.isEmpty else { throw ConfigError(key: "ca", message: "the CA that signed the gateway's certificate is required") }
        guard TLSSettings.versions.contains(tlsMin) else { throw ConfigError(key: "tls-min", message: "must be 1.2 or 1.3") }
        guard (1...256).contains(loops) else { throw ConfigError(key: "loops", message: "must be 1...256") }
        guard (1...(1 << 20)).contains(maxConns) else { throw ConfigError(key: "max-conns", message: "must be 1...1048576") }
        guard queueLimit >= 65_536 else { throw ConfigError(key: "queue-limit", message: "must be at least 65536") }
        guard handshakeTimeout >= 1 else { throw ConfigError(key: "handshake-timeout", message: "must be at least 1") }
        _ = try resolvedServerName()
        _ = try TLSClientContext(caFile: caFile, certificateFile: certificateFile, keyFile: keyFile, minimumVersion: tlsMin)
    }
}

/// `pebble9p tunnel`: plain 9P in on `listen`, one TLS connection to the gateway out per client,
/// on the same loops, listeners and transports as `serve`. This is how clients without TLS
/// (Linux v9fs, diod's tools, p9fs) reach a gateway over the network.
public final class TunnelServer: Sendable {
    public let config: TunnelConfig
    private let logger: Logger

    public init(config: TunnelConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    public func run() throws -> Never {
        try config.validate()
        let tls = try TLSClientContext(caFile: config.caFile, certificateFile: config.certificateFile, keyFile: config.keyFile,
                                       minimumVersion: config.tlsMin)
        let (host, port) = try SocketAddress.split(hostPort: config.connect)
        guard let portNumber = UInt16(port) else { throw ConfigError(key: "connect", message: "bad port \"\(port)\"") }
        let dialer = try BackendDialer(spec: .tcp(host: host, port: portNumber))
        let serverName = try config.resolvedServerName()
        let settings = TunnelSession.Settings(queueLimit: config.queueLimit,
                                              handshakeTimeoutMilliseconds: UInt64(config.handshakeTimeout) * 1000)
        logger.info("TLS path", metadata: ["path": "\(KernelTLS.path)"])
        let loops = ServerLoops(endpoints: config.listen.map { ListenEndpoint(address: $0, tls: false) }, loops: config.loops,
                                maxConns: config.maxConns, drainTimeout: 5, logger: logger)
        try loops.run(tls: nil, metadata: ["connect": "\(config.connect)", "server_name": "\(serverName)"]) { [logger] loop, client, finished in
            try TunnelSession(loop: loop, client: client, dialer: dialer, tls: tls, serverName: serverName, settings: settings,
                              logger: logger, onFinish: finished)
        }
    }
}
