import Foundation

/// Everything `pebble9p serve` can be told. Each setting is both a flag (`--max-msize`) and a key in
/// the config file (`max-msize = 65536`); `settings` below is the one list both are built from.
public struct GatewayConfig: Sendable, Equatable {
    /// Where plain-9P clients connect, HOST:PORT each. nil: `defaultListen`, unless `tlsListen`
    /// names addresses (then no plain port is opened).
    public var listen: [String]?
    /// Where TLS clients connect, HOST:PORT each.
    public var tlsListen: [String] = []
    /// The server's certificate chain (PEM, leaf first) and its private key, for `tlsListen`.
    public var tlsCert: String?
    public var tlsKey: String?
    /// CA certificates (PEM) that client certificates must chain to.
    public var clientCA: String?
    /// CRLs (PEM) of that CA: revoked client certificates are refused.
    public var clientCRL: String?
    /// Whether clients must present a certificate; nil: `required` with `clientCA`, else `none`.
    public var clientAuth: ClientAuth?
    /// The lowest TLS version accepted: "1.3" or "1.2".
    public var tlsMin = "1.3"
    public var tlsCiphers = TLSSettings.defaultCiphers
    public var tlsCipherSuites = TLSSettings.defaultCipherSuites
    /// Backends by the server name a TLS client asks for (SNI); other sessions use `backend`.
    public var routes: [ServerRoute] = []
    /// Refuse a TLS handshake whose server name has no route, instead of using `backend`.
    public var routeStrict = false
    /// The 9P server. When nil, `export` must be set and diod is started per session.
    public var backend: BackendSpec?
    /// A directory to serve with an embedded diod (`exec:diod -r 0 -w 1 -e DIR`).
    public var export: String?
    /// The diod binary `export` runs.
    public var diod = "diod"
    /// The user every client of `export` acts as (diod's --allsquash --squashuser), so a network
    /// client never gets the gateway's own rights (root's, run from the quick start). When the
    /// gateway is not root, diod cannot change users, so the default is the user running it.
    public var exportUser = Self.defaultExportUser
    /// The largest msize the gateway agrees to (the backend may answer less).
    public var maxMsize: UInt32 = 1 << 20
    /// Whether a client may use a larger msize than the backend's, its large reads and writes
    /// sent to the backend as pieces (`bridge-msize`); off: the client gets the backend's msize.
    public var bridgeMsize = true
    /// Read-ahead on sequential reads of regular files (`read-ahead`), how much per fid
    /// (`read-ahead-max`), and the files never read ahead (`no-read-ahead`).
    public var readAhead = true
    public var readAheadMax = 4 << 20
    public var noReadAhead: [String] = []
    /// Event loops (threads); `defaultLoops` by default.
    public var loops = GatewayConfig.defaultLoops

    /// One loop per core, and at least 4 (at most 256). A loop serves its connections one event
    /// at a time, so with fewer loops than busy connections a ready connection waits behind
    /// another's work while a core may sit idle; measured on 2 cores (diodload, 4 connections):
    /// 4 loops left 1–3 % of the machine idle where 2 left 8–16 %, getattr through the TLS pair
    /// +15 % and read/write +20 %, and no loss with 16 connections. Loops are cheap (a thread
    /// and a listening socket each), and `LoopBalance` spreads connections over all of them.
    public static let defaultLoops = min(max(ProcessInfo.processInfo.activeProcessorCount, 4), 256)
    /// Client requests per session at the server at once; more are held by the gateway.
    public var maxInFlight = 256
    /// Fids one session may hold.
    public var maxFids = 16_384
    /// Client connections (sessions) open at once, gateway-wide; further ones wait in the listen
    /// queue. The spelling is the one operators will script against (as HAProxy's maxconn). Bounds
    /// the whole process: each session holds two fds, up to three queue-limits of buffers, and with
    /// `exec:` (or `export`) a server process.
    public var maxConns = 1024
    /// Bytes queued towards one side of a session, or of held requests, before the gateway stops
    /// reading the client; and bytes of replies its reads at the server may bring before more
    /// requests are held.
    public var queueLimit = 4 << 20
    /// Seconds a closing session waits for the server to answer its flushes and clunks.
    public var drainTimeout = 10
    /// Seconds a new connection has to finish Tversion before it is closed.
    public var handshakeTimeout = 30
    /// Seconds a client may take to send one frame once its first byte arrived (slowloris); 0: no limit.
    public var frameTimeout = 60
    /// Seconds a session may go without a byte from its client and with nothing at the server; 0: off.
    public var idleTimeout = 0
    /// Requests and bytes (read and write counts) per second, per session and per identity; 0: no limit.
    public var rateOps = 0
    public var rateBytes = 0
    /// Seconds of a rate that may be spent at once after a quiet spell.
    public var burstSeconds = 1.0
    /// Sessions one client may have open at once (by address, and by verified identity); 0: no limit.
    public var maxConnsPerClient = 0
    /// Fids, and requests taken and not yet answered, of one identity over all its sessions on
    /// every loop; past either a request gets EDQUOT. 0: no limit (each session still has
    /// `maxFids`, and holds requests past `maxInFlight`).
    public var maxFidsPerClient = 0
    public var maxRequestsPerClient = 0
    /// Seconds a request may be at the server before the client gets EIO and the server a Tflush; 0: never.
    public var backendTimeout = 0
    /// Bytes the gateway may hold for one identity (every session of it, on every loop): requests
    /// and the most their replies may bring, and what waits in its buffers (the plan's
    /// `pebble.quota`). A request past it gets EDQUOT. 0: no byte budget.
    public var quota = 256 << 20
    /// Bytes all sessions together may hold (the sum of the quota ledgers) before new connections
    /// wait to be accepted; 0: no ceiling.
    public var maxMemory = 0
    /// Per-identity budgets that replace the defaults for that identity (`client-budget`).
    public var clientBudgets: [ClientBudget] = []
    /// Where `/metrics` (Prometheus text) is served, HOST:PORT; nil: nowhere.
    public var metrics: String?
    /// Budgets on (`--pebble on`, the default) or off: off is a transparent proxy with only the
    /// safety limits it always had (max-fids, max-inflight, max-conns, queue-limit, the handshake
    /// and drain timeouts); capabilities are not budgets and stay.
    public var pebble = true

    /// This configuration with the budgets off when `pebble` is off: no rates, no per-client
    /// session limit, no frame, idle or backend timeout.
    public var effective: GatewayConfig {
        guard !pebble else { return self }
        var config = self
        (config.rateOps, config.rateBytes, config.maxConnsPerClient, config.quota) = (0, 0, 0, 0)
        (config.maxFidsPerClient, config.maxRequestsPerClient) = (0, 0)
        config.clientBudgets = []
        (config.frameTimeout, config.idleTimeout, config.backendTimeout) = (0, 0, 0)
        return config
    }
    /// A Twrite's or Rread's data is spliced socket to socket (never read by the gateway) when at
    /// least this many of its bytes are still to arrive once its fixed fields are in; 0 turns it off.
    public var spliceMinimum = 16 * 1024
    /// Blue writes (`blue`): a fid open for writing on a regular file holds its writes until the
    /// client clunks or fsyncs it, then replaces the file atomically (9P2000.L); past `blueMax`
    /// bytes the fid streams to its commit's temporary.
    public var blue = true
    public var blueMax = 64 << 20
    /// Where a fid's held bytes past `blueMemory` spill to (`BlueDirectory`; nil: the default, a
    /// private directory under the system temp dir).
    public var blueDir: String?
    public var blueMemory = 1 << 20
    /// Files whose writes always go through, Blue or not (`PathGlobRule`).
    public var writeThrough: [String] = []
    /// trace, debug, info, notice, warning, error, critical.
    public var logLevel = "info"
    /// The capability token key file (mode 0600); without it a presented token is refused.
    public var tokenKeys: String?
    /// A file of revoked token ids.
    public var revoked: String?
    /// Refuse an attach that presents no token.
    public var requireToken = false
    /// What the gateway attaches to the backend as for a token's session: the aname (with `export`,
    /// the export directory) and the user when the token names none (else the client's).
    public var backendAname: String?
    public var backendUname: String?
    /// Where security events go, as JSON lines; nil: stderr.
    public var audit: String?

    public init() {}

    public static let defaultListen = "127.0.0.1:5640"

    /// The TLS settings, when a certificate and key are configured.
    public var tlsSettings: TLSSettings? {
        guard let tlsCert, let tlsKey else { return nil }
        return TLSSettings(certificateFile: tlsCert, keyFile: tlsKey, clientCAFile: clientCA, clientCRLFile: clientCRL,
                           clientAuth: clientAuth ?? (clientCA == nil ? .none : .required),
                           minimumVersion: tlsMin, ciphers: tlsCiphers, cipherSuites: tlsCipherSuites,
                           requiredServerNames: routeStrict ? Set(routes.map(\.name)) : nil)
    }

    /// Every address the gateway listens on, and whether it speaks TLS there.
    public var endpoints: [ListenEndpoint] {
        let plain = listen ?? (tlsListen.isEmpty ? [Self.defaultListen] : [])
        return plain.map { ListenEndpoint(address: $0, tls: false) } + tlsListen.map { ListenEndpoint(address: $0, tls: true) }
    }

    /// The backend to use: `backend`, or diod for `export`.
    public func resolvedBackend() throws(ConfigError) -> BackendSpec {
        switch (backend, export) {
        case let (backend?, nil): return backend
        case let (nil, directory?): return .diod(exporting: directory, diodPath: diod, user: exportUser)
        case (nil, nil): throw ConfigError(key: "backend", message: "set backend (tcp:, unix:, exec:) or export DIR")
        case (.some, .some): throw ConfigError(key: "export", message: "set either backend or export, not both")
        }
    }

    /// Checks values that each parse alone but are wrong (ranges, existence).
    public func validate() throws(ConfigError) {
        guard !endpoints.isEmpty else { throw ConfigError(key: "listen", message: "no address to listen on") }
        var seen = Set<String>()
        for endpoint in endpoints where !seen.insert(endpoint.address).inserted {
            throw ConfigError(key: endpoint.tls ? "tls-listen" : "listen", message: "\(endpoint.address) is given twice")
        }
        switch (tlsCert, tlsKey) {
        case (nil, nil):
            if !tlsListen.isEmpty { throw ConfigError(key: "tls-listen", message: "needs tls-cert and tls-key") }
            if clientCA != nil || clientAuth != nil { throw ConfigError(key: clientCA != nil ? "client-ca" : "client-auth", message: "needs tls-cert and tls-key") }
        case (nil, _?): throw ConfigError(key: "tls-cert", message: "tls-key is set but not tls-cert")
        case (_?, nil): throw ConfigError(key: "tls-key", message: "tls-cert is set but not tls-key")
        case (_?, _?):
            if tlsListen.isEmpty { throw ConfigError(key: "tls-listen", message: "tls-cert and tls-key are set, but no tls-listen address") }
        }
        if !routes.isEmpty && tlsListen.isEmpty {
            throw ConfigError(key: "route", message: "routes pick a backend by TLS server name: they need tls-listen")
        }
        if routeStrict && routes.isEmpty { throw ConfigError(key: "route-strict", message: "there are no routes") }
        var routeNames = Set<String>()
        for route in routes {
            guard routeNames.insert(route.name).inserted else {
                throw ConfigError(key: "route", message: "\(route.name) has two routes")
            }
            do { _ = try BackendDialer(spec: route.backend) } catch { throw ConfigError(key: "route", message: "\(route.name): \(error.message)") }
        }
        // Loads the certificate, key and CA as serving would: a bad file is named now.
        if let tlsSettings { _ = try TLSServerContext(tlsSettings) }
        // Resolves a tcp: host and checks a unix: path's length, as serving would.
        _ = try BackendDialer(spec: try resolvedBackend())
        if case let .tcp(_, port)? = backend, port == 0 {
            throw ConfigError(key: "backend", message: "port 0 names no server")
        }
        if let export {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: export, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigError(key: "export", message: "\"\(export)\" is not a directory")
            }
            guard Self.findExecutable(diod) != nil else {
                throw ConfigError(key: "diod", message: "\"\(diod)\" is not an executable file (install diod, or set diod to its path)")
            }
            guard getpwnam(exportUser) != nil else {
                throw ConfigError(key: "export-user", message: "no user \"\(exportUser)\" in the user database")
            }
            // Not root, diod cannot act as anyone else and silently squashes to the running user.
            guard geteuid() == 0 || exportUser == Self.defaultExportUser else {
                throw ConfigError(key: "export-user", message: "only root can serve as another user; running as \"\(Self.defaultExportUser)\"")
            }
        }
        guard Self.msizeRange.contains(Int(maxMsize)) else {
            throw ConfigError(key: "max-msize", message: "must be \(Self.msizeRange.lowerBound)...\(Self.msizeRange.upperBound)")
        }
        guard (1...256).contains(loops) else { throw ConfigError(key: "loops", message: "must be 1...256") }
        guard (1...60_000).contains(maxInFlight) else { throw ConfigError(key: "max-inflight", message: "must be 1...60000") }
        guard maxFids >= 1 else { throw ConfigError(key: "max-fids", message: "must be at least 1") }
        guard (1...Self.maxConnsLimit).contains(maxConns) else {
            throw ConfigError(key: "max-conns", message: "must be 1...\(Self.maxConnsLimit)")
        }
        guard queueLimit >= 65_536 else { throw ConfigError(key: "queue-limit", message: "must be at least 65536") }
        guard drainTimeout >= 0 else { throw ConfigError(key: "drain-timeout", message: "must not be negative") }
        guard handshakeTimeout >= 1 else { throw ConfigError(key: "handshake-timeout", message: "must be at least 1") }
        var budgetKeys = Set<String>()
        for budget in clientBudgets where !budgetKeys.insert(budget.identity).inserted {
            throw ConfigError(key: "client-budget", message: "\(budget.identity) is given twice")
        }
        if requireToken && tokenKeys == nil { throw ConfigError(key: "require-token", message: "needs token-keys") }
        if revoked != nil && tokenKeys == nil { throw ConfigError(key: "revoked", message: "needs token-keys") }
        if let tokenKeys { _ = try TokenMaterial(keyFile: tokenKeys, revokedFile: revoked) }
        guard Self.logLevels.contains(logLevel) else {
            throw ConfigError(key: "log-level", message: "must be one of \(Self.logLevels.joined(separator: ", "))")
        }
    }

    static var defaultExportUser: String {
        let uid = geteuid()
        if uid == 0 { return "nobody" }
        if let entry = getpwuid(uid), let name = entry.pointee.pw_name { return String(cString: name) }
        return "nobody"
    }

    /// A command name as /bin/sh would find it: a path if it has a slash, else through PATH.
    static func findExecutable(_ command: String) -> String? {
        let candidates = command.contains("/")
            ? [command]
            : (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/\(command)" }
        return candidates.first { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
                && FileManager.default.isExecutableFile(atPath: path)
        }
    }

    /// msize the gateway may agree to. 16 MiB is far above what real clients ask (Linux's v9fs takes
    /// at most 1 MiB over TCP) and keeps the buffer one frame can claim bounded.
    public static let msizeRange = 4096...(16 << 20)

    /// Two fds a session: far past any file limit a process gets.
    static let maxConnsLimit = 1 << 20

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// One setting: its key (also the flag's name) and how a text value is applied.
    public struct Setting: Sendable {
        public let key: String
        public let help: String
        let apply: @Sendable (inout GatewayConfig, ConfigValue) throws(ConfigError) -> Void
    }

    /// The table both the file loader and the command line use, so a key cannot exist in one only.
    public static let settings: [Setting] = [
        Setting(key: "listen", help: "address plain-9P clients connect to, HOST:PORT (repeatable; a list in the file)") { config, value throws(ConfigError) in
            config.listen = try resolvable(value.strings())
        },
        Setting(key: "tls-listen", help: "address TLS clients connect to, HOST:PORT (repeatable; a list in the file)") { config, value throws(ConfigError) in
            config.tlsListen = try resolvable(value.strings())
        },
        Setting(key: "tls-cert", help: "server certificate chain for tls-listen (PEM, leaf first)") { config, value throws(ConfigError) in
            config.tlsCert = try value.string()
        },
        Setting(key: "tls-key", help: "private key of tls-cert (PEM)") { config, value throws(ConfigError) in
            config.tlsKey = try value.string()
        },
        Setting(key: "client-ca", help: "CA certificates client certificates must chain to (PEM)") { config, value throws(ConfigError) in
            config.clientCA = try value.string()
        },
        Setting(key: "client-crl", help: "CRLs of client-ca (PEM): a revoked client certificate is refused") { config, value throws(ConfigError) in
            config.clientCRL = try value.string()
        },
        Setting(key: "client-auth", help: "none|optional|required (default: required with client-ca, else none)") { config, value throws(ConfigError) in
            let text = try value.string()
            guard let auth = ClientAuth(rawValue: text) else {
                throw ConfigError(key: nil, message: "must be one of \(ClientAuth.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.clientAuth = auth
        },
        Setting(key: "tls-min", help: "lowest TLS version accepted: 1.3 (default) or 1.2") { config, value throws(ConfigError) in
            let text = try value.string()
            guard TLSSettings.versions.contains(text) else { throw ConfigError(key: nil, message: "must be 1.2 or 1.3") }
            config.tlsMin = text
        },
        Setting(key: "tls-ciphers", help: "TLS 1.2 cipher list (OpenSSL syntax)") { config, value throws(ConfigError) in
            config.tlsCiphers = try value.string()
        },
        Setting(key: "tls-ciphersuites", help: "TLS 1.3 cipher suites (OpenSSL syntax)") { config, value throws(ConfigError) in
            config.tlsCipherSuites = try value.string()
        },
        Setting(key: "route", help: "NAME=SPEC: TLS clients asking for server name NAME (SNI) use backend SPEC (repeatable; a list in the file)") { config, value throws(ConfigError) in
            var routes: [ServerRoute] = []
            for text in try value.strings() { routes.append(try ServerRoute(parsing: text)) }
            config.routes = routes
        },
        Setting(key: "route-strict", help: "refuse a TLS handshake naming no route (true/false)") { config, value throws(ConfigError) in
            config.routeStrict = try value.boolean()
        },
        Setting(key: "backend", help: "9P server: tcp:HOST:PORT, unix:PATH or exec:COMMAND") { config, value throws(ConfigError) in
            config.backend = try BackendSpec(parsing: try value.string())
        },
        Setting(key: "export", help: "directory to serve with an embedded diod") { config, value throws(ConfigError) in
            // diod wants an absolute export; a relative one is taken from the working directory.
            config.export = URL(fileURLWithPath: try value.string()).standardizedFileURL.path
        },
        Setting(key: "export-user", help: "user every client of export acts as") { config, value throws(ConfigError) in
            config.exportUser = try value.string()
        },
        Setting(key: "diod", help: "diod binary used by export") { config, value throws(ConfigError) in
            config.diod = try value.string()
        },
        Setting(key: "max-msize", help: "largest msize agreed to") { config, value throws(ConfigError) in
            config.maxMsize = UInt32(try value.integer(in: msizeRange))
        },
        Setting(key: "bridge-msize", help: "on|off: let clients use max-msize even when the file server's msize is smaller (large reads and writes go to it as pieces, together); off: clients get the server's msize") { config, value throws(ConfigError) in
            config.bridgeMsize = try value.onOff()
        },
        Setting(key: "read-ahead", help: "on|off: on a regular file read sequentially, keep the next reads in flight to the file server and answer from them (never with data read more than 50 ms before)") { config, value throws(ConfigError) in
            config.readAhead = try value.onOff()
        },
        Setting(key: "read-ahead-max", help: "bytes one fid may have read ahead, e.g. 4M (the default)") { config, value throws(ConfigError) in
            config.readAheadMax = try value.byteCount()
        },
        Setting(key: "no-read-ahead", help: "GLOB: files never read ahead (their reads have effects); with a /, matched against the path below the attach point (/ctl), else against the name (repeatable; a list in the file)") { config, value throws(ConfigError) in
            config.noReadAhead = try value.strings()
        },
        Setting(key: "loops", help: "event loops (threads)") { config, value throws(ConfigError) in
            config.loops = try value.integer(in: 1...256)
        },
        Setting(key: "max-inflight", help: "requests per session at the server at once; more are held") { config, value throws(ConfigError) in
            config.maxInFlight = try value.integer(in: 1...60_000)
        },
        Setting(key: "max-fids", help: "fids per session") { config, value throws(ConfigError) in
            config.maxFids = try value.integer(in: 1...Int(Int32.max))
        },
        Setting(key: "max-conns", help: "client connections (sessions) open at once; more wait to be accepted") { config, value throws(ConfigError) in
            config.maxConns = try value.integer(in: 1...maxConnsLimit)
        },
        Setting(key: "queue-limit", help: "bytes queued per direction or held before the client is paused; reply bytes reads at the server may bring before requests are held") { config, value throws(ConfigError) in
            config.queueLimit = try value.integer(in: 65_536...Int(Int32.max))
        },
        Setting(key: "drain-timeout", help: "seconds to wait for cleanup when a client leaves") { config, value throws(ConfigError) in
            config.drainTimeout = try value.integer(in: 0...3600)
        },
        Setting(key: "handshake-timeout", help: "seconds a new connection has to finish Tversion") { config, value throws(ConfigError) in
            config.handshakeTimeout = try value.integer(in: 1...3600)
        },
        Setting(key: "frame-timeout", help: "seconds a client may take to send one frame once it began (slowloris); 0: no limit") { config, value throws(ConfigError) in
            config.frameTimeout = try value.integer(in: 0...86_400)
        },
        Setting(key: "idle-timeout", help: "seconds a session may stay idle (no byte from the client, nothing at the server) before it is closed; 0: never") { config, value throws(ConfigError) in
            config.idleTimeout = try value.integer(in: 0...(86_400 * 30))
        },
        Setting(key: "pebble", help: "on|off: budgets (quota, rates, per-client sessions, fids and requests, frame, idle and backend timeouts, token budget caveats) on or off") { config, value throws(ConfigError) in
            config.pebble = try value.onOff()
        },
        Setting(key: "metrics", help: "HOST:PORT where GET /metrics serves Prometheus text") { config, value throws(ConfigError) in
            config.metrics = try resolvable([value.string()]).first
        },
        Setting(key: "backend-timeout", help: "seconds a request may be at the server before the client gets EIO and the server a Tflush (an unanswered flush ends the session); 0: never") { config, value throws(ConfigError) in
            config.backendTimeout = try value.integer(in: 0...86_400)
        },
        Setting(key: "max-conns-per-client", help: "sessions one client address (and one verified identity) may have open at once (0: no limit)") { config, value throws(ConfigError) in
            config.maxConnsPerClient = try value.integer(in: 0...maxConnsLimit)
        },
        Setting(key: "max-fids-per-client", help: "fids one identity may hold over all its sessions; past it a request that makes one gets EDQUOT (0: no limit)") { config, value throws(ConfigError) in
            config.maxFidsPerClient = try value.integer(in: 0...Int(Int32.max))
        },
        Setting(key: "max-requests-per-client", help: "requests of one identity taken and not yet answered, over all its sessions; past it a request gets EDQUOT (0: no limit)") { config, value throws(ConfigError) in
            config.maxRequestsPerClient = try value.integer(in: 0...Int(Int32.max))
        },
        Setting(key: "quota", help: "bytes held for one identity (requests, the replies they may bring, its buffers) before a request gets EDQUOT, e.g. 256M (default; 0: none)") { config, value throws(ConfigError) in
            config.quota = try value.byteCount()
        },
        Setting(key: "max-memory", help: "bytes all sessions may hold together before new connections wait, e.g. 2G (0: no ceiling)") { config, value throws(ConfigError) in
            config.maxMemory = try value.byteCount()
        },
        Setting(key: "client-budget", help: "IDENTITY KEY=VALUE ...: budgets for one identity (dns:NAME, uri:URI, cn:NAME, token:ID, addr:HOST) in place of the defaults; keys quota, rate-ops, rate-bytes, max-conns-per-client, max-fids-per-client, max-requests-per-client, max-fids, max-inflight, max-msize, blue (repeatable; a list in the file)") { config, value throws(ConfigError) in
            var budgets: [ClientBudget] = []
            for text in try value.strings() { budgets.append(try ClientBudget(parsing: text)) }
            config.clientBudgets = budgets
        },
        Setting(key: "rate-ops", help: "requests per second per session and per identity (0: no limit)") { config, value throws(ConfigError) in
            config.rateOps = try value.integer(in: 0...Int(Int32.max))
        },
        Setting(key: "rate-bytes", help: "bytes read and written per second per session and per identity, e.g. 20M (0: no limit)") { config, value throws(ConfigError) in
            config.rateBytes = try value.byteCount()
        },
        Setting(key: "burst-s", help: "seconds of a rate that may be spent at once after a quiet spell (default 1)") { config, value throws(ConfigError) in
            let text = try value.string()
            guard let seconds = Double(text), seconds >= 0.01, seconds <= 3600 else { throw ConfigError(key: nil, message: "must be a number of seconds in 0.01...3600") }
            config.burstSeconds = seconds
        },
        Setting(key: "blue", help: "on|off: hold a fid's writes until it is clunked or fsynced, then replace the file atomically, so a client that dies mid-write changes nothing (9P2000.L)") { config, value throws(ConfigError) in
            config.blue = try value.onOff()
        },
        Setting(key: "blue-max", help: "bytes one fid holds in memory before it streams to its commit's temporary on the server, and the largest file an edit copies, e.g. 64M (the default)") { config, value throws(ConfigError) in
            config.blueMax = try value.byteCount()
        },
        Setting(key: "blue-dir", help: "directory where a fid's held bytes past blue-memory go, in unnamed files (default: a private directory under the system temp dir, mode 0700)") { config, value throws(ConfigError) in
            config.blueDir = try value.string()
        },
        Setting(key: "blue-memory", help: "bytes one fid holds in memory before the rest go to a file in blue-dir, e.g. 1M (the default)") { config, value throws(ConfigError) in
            config.blueMemory = try value.byteCount()
        },
        Setting(key: "write-through", help: "GLOB: files whose writes always go to the server at once with blue on; with a /, matched against the path below the attach point (/ctl), else against the name (*.log) (repeatable; a list in the file)") { config, value throws(ConfigError) in
            config.writeThrough = try value.strings()
        },
        Setting(key: "splice-min", help: "bytes of data still to come from which a read/write payload is spliced; 0: never") { config, value throws(ConfigError) in
            config.spliceMinimum = try value.integer(in: 0...Int(Int32.max))
        },
        Setting(key: "token-keys", help: "capability token key file (mode 0600; pebble9p token keygen makes one)") { config, value throws(ConfigError) in
            config.tokenKeys = try value.string()
        },
        Setting(key: "revoked", help: "file of revoked token ids (one per line); re-read on SIGHUP") { config, value throws(ConfigError) in
            config.revoked = try value.string()
        },
        Setting(key: "require-token", help: "refuse an attach without a capability token (true/false)") { config, value throws(ConfigError) in
            config.requireToken = try value.boolean()
        },
        Setting(key: "backend-aname", help: "aname the gateway attaches with for a token's session (default: the export directory, else empty)") { config, value throws(ConfigError) in
            config.backendAname = try value.string()
        },
        Setting(key: "backend-uname", help: "user a token's session attaches as when the token names none (default: the client's)") { config, value throws(ConfigError) in
            config.backendUname = try value.string()
        },
        Setting(key: "audit", help: "file security events are appended to as JSON lines (default: stderr)") { config, value throws(ConfigError) in
            config.audit = try value.string()
        },
        Setting(key: "log-level", help: "trace|debug|info|notice|warning|error|critical") { config, value throws(ConfigError) in
            let level = try value.string()
            guard logLevels.contains(level) else {
                throw ConfigError(key: nil, message: "must be one of \(logLevels.joined(separator: ", "))")
            }
            config.logLevel = level
        },
    ]

    /// The aname a token's session attaches with: the setting, else the export directory, else "".
    public var resolvedBackendAname: String { backendAname ?? export ?? "" }

    /// Addresses that resolve, as binding them would.
    private static func resolvable(_ addresses: [String]) throws(ConfigError) -> [String] {
        for address in addresses { _ = try SocketAddress.resolve(hostPort: address) }
        return addresses
    }

    /// Applies one key's value; errors name the key.
    public mutating func set(_ key: String, _ value: ConfigValue, line: Int? = nil) throws(ConfigError) {
        guard let setting = Self.settings.first(where: { $0.key == key }) else {
            throw ConfigError(key: key, line: line, message: "unknown key (known: \(Self.settings.map(\.key).joined(separator: ", ")))")
        }
        do {
            try setting.apply(&self, value)
        } catch {
            throw ConfigError(key: key, line: line, message: error.message)
        }
    }
}

/// One address the gateway listens on.
public struct ListenEndpoint: Sendable, Equatable {
    public var address: String
    /// Whether clients speak TLS there.
    public var tls: Bool

    public init(address: String, tls: Bool) {
        self.address = address
        self.tls = tls
    }
}

/// One `route`: TLS clients that ask for `name` (SNI) are served by `backend`.
public struct ServerRoute: Sendable, Equatable {
    /// Lowercase: DNS names compare without case.
    public var name: String
    public var backend: BackendSpec

    public init(name: String, backend: BackendSpec) {
        self.name = name.lowercased()
        self.backend = backend
    }

    /// "NAME=SPEC", e.g. "archive.example.org=tcp:10.0.0.5:564".
    init(parsing text: String) throws(ConfigError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw ConfigError(key: nil, message: "expected NAME=SPEC, got \"\(text)\"")
        }
        let name = String(text[..<equals])
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }) else {
            throw ConfigError(key: nil, message: "\"\(name)\" is not a server name")
        }
        self.init(name: name, backend: try BackendSpec(parsing: String(text[text.index(after: equals)...])))
    }
}
