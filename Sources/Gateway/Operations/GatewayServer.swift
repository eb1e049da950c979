import Foundation
import Logging

/// `pebble9p serve`: the 9P gateway. Each accepted connection (plain or TLS) becomes a
/// `GatewaySession` in front of the configured backend.
public final class GatewayServer: Sendable {
    public let config: GatewayConfig
    private let logger: Logger

    public init(config: GatewayConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// Runs the loops; the calling thread waits for a stop signal, then exits.
    public func run() throws -> Never {
        try config.validate()
        var config = self.config.effective
        if config.blue || config.clientBudgets.contains(where: { $0.blue == true }) {
            config.blueDir = try BlueDirectory.prepare(config.blueDir, logger: logger)
        }
        if !config.pebble {
            logger.info("budgets off (--pebble off): only max-fids, max-inflight, max-conns, queue-limit and the handshake and drain timeouts apply")
        }
        let backend = try config.resolvedBackend()
        let dialer = try BackendDialer(spec: backend)
        var routes: [String: BackendDialer] = [:]
        for route in config.routes { routes[route.name] = try BackendDialer(spec: route.backend) }
        let tls = try config.tlsSettings.map { settings throws(ConfigError) in try TLSServerMaterial(settings) }
        let bytesHeld = config.byteLedgers
        let metrics = GatewayMetrics(byteLedgers: bytesHeld)
        let directory = config.metrics == nil ? nil : SessionDirectory()
        if let address = config.metrics, let directory {
            let server = try MetricsServer(address: address, metrics: metrics, sessions: directory)
            server.start(logger: logger)
            logger.info("metrics listening", metadata: ["address": "\(server.address)", "path": "/metrics"])
        }
        let tokens = try config.tokenKeys.map { path throws(ConfigError) in try TokenMaterial(keyFile: path, revokedFile: config.revoked) }
        let settings = GatewaySession.Settings(
            limits: config.sessionLimits,
            clientLimits: config.clientLimits,
            queueLimit: config.queueLimit,
            drainTimeoutMilliseconds: UInt64(config.drainTimeout) * 1000,
            handshakeTimeoutMilliseconds: UInt64(config.handshakeTimeout) * 1000,
            frameTimeoutMilliseconds: UInt64(config.frameTimeout) * 1000,
            idleTimeoutMilliseconds: UInt64(config.idleTimeout) * 1000,
            backendTimeoutMilliseconds: UInt64(config.backendTimeout) * 1000,
            spliceMinimum: config.spliceMinimum,
            tokens: tokens,
            requireToken: config.requireToken,
            backendAname: config.resolvedBackendAname,
            backendUname: config.backendUname,
            audit: try AuditLog(path: config.audit),
            rates: config.sharedRates,
            burstSeconds: config.burstSeconds,
            connectionCounts: config.connectionCounts,
            bytesHeld: bytesHeld,
            fidsPerClient: config.fidLedgers,
            requestsPerClient: config.requestLedgers,
            metrics: metrics,
            sessions: directory,
            budgets: config.pebble,
            blue: config.blueSettings,
            readAhead: config.readAheadSettings,
            clientBlue: config.clientBlue
        )
        if tls != nil { logger.info("TLS path", metadata: ["path": "\(KernelTLS.path)"]) }
        let memory = bytesHeld.flatMap { ledgers in
            config.maxMemory == 0 ? nil : MemoryCeiling(limit: config.maxMemory, held: { ledgers.total })
        }
        let loops = ServerLoops(endpoints: config.endpoints, loops: config.loops, maxConns: config.maxConns, memory: memory,
                                drainTimeout: config.drainTimeout, logger: logger)
        // SIGHUP: certificate, key and CA are read again for new handshakes, token keys and the
        // revocation list for new attaches; a bad file keeps the old.
        let reload: (() -> Set<String>)? = tls == nil && tokens == nil ? nil : { [logger] in
            if let tls {
                do {
                    try tls.reload()
                    logger.info("TLS material reloaded", metadata: ["cert": "\(tls.settings.certificateFile)"])
                } catch {
                    logger.error("TLS reload refused; the previous certificate stays", metadata: ["error": "\(error)"])
                }
            }
            if let tokens {
                do {
                    let revoked = try tokens.reload()
                    logger.info("token keys reloaded", metadata: ["keys": "\(tokens.keyFile)", "revoked": "\(revoked.count)"])
                    return revoked
                } catch {
                    logger.error("token reload refused; the previous keys stay", metadata: ["error": "\(error)"])
                }
            }
            return []
        }
        try loops.run(tls: tls, metadata: ["backend": "\(backend)", "max_msize": "\(config.maxMsize)"], reload: reload) { [logger] loop, client, finished in
            try GatewaySession(loop: loop, client: client, dialer: dialer, routes: routes, settings: settings, logger: logger,
                               onFinish: finished)
        }
    }
}
