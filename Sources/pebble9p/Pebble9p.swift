import ArgumentParser
import Foundation
import Gateway
import Logging
import Pebble

@main
struct Pebble9p: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pebble9p",
        abstract: "A gateway in front of existing 9P file servers.",
        version: PebbleVersion.string,
        subcommands: [Serve.self, Check.self, Tunnel.self, TokenCommand.self, Sessions.self],
        defaultSubcommand: Serve.self
    )
}

/// The flags every config key also has. Each is applied through `GatewayConfig.set`, the same path
/// the config file takes, so a flag and its key cannot disagree. Numeric ones take the next word
/// even when it starts with "-", so `--loops -1` meets the range check, not "missing value".
struct SettingOptions: ParsableArguments {
    @Option(help: "Config file (flags given here override its keys).")
    var config: String?
    @Option(help: "Address plain-9P clients connect to, HOST:PORT (repeatable; default 127.0.0.1:5640 unless --tls-listen is given).")
    var listen: [String] = []
    @Option(name: .customLong("tls-listen"), help: "Address TLS clients connect to, HOST:PORT (repeatable; needs --tls-cert and --tls-key).")
    var tlsListen: [String] = []
    @Option(name: .customLong("tls-cert"), help: "Server certificate chain for --tls-listen (PEM, leaf first).")
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "Private key of --tls-cert (PEM).")
    var tlsKey: String?
    @Option(name: .customLong("client-ca"), help: "CA certificates that client certificates must chain to (PEM).")
    var clientCA: String?
    @Option(name: .customLong("client-crl"), help: "CRLs of --client-ca (PEM): a revoked client certificate is refused; re-read on SIGHUP.")
    var clientCRL: String?
    @Option(name: .customLong("client-auth"), help: "none|optional|required (default: required with --client-ca, else none).")
    var clientAuth: String?
    @Option(name: .customLong("tls-min"), help: "Lowest TLS version accepted: 1.3 (default) or 1.2.")
    var tlsMin: String?
    @Option(name: .customLong("tls-ciphers"), help: "TLS 1.2 cipher list (OpenSSL syntax).")
    var tlsCiphers: String?
    @Option(name: .customLong("tls-ciphersuites"), help: "TLS 1.3 cipher suites (OpenSSL syntax).")
    var tlsCipherSuites: String?
    @Option(help: "NAME=SPEC: TLS clients asking for server name NAME (SNI) use backend SPEC (repeatable).")
    var route: [String] = []
    @Flag(name: .customLong("route-strict"), help: "Refuse a TLS handshake whose server name has no route.")
    var routeStrict = false
    @Option(help: "9P server: tcp:HOST:PORT, unix:PATH or exec:COMMAND.")
    var backend: String?
    @Option(help: "Directory to serve with an embedded diod started per session.")
    var export: String?
    @Option(help: "diod binary used by --export.")
    var diod: String?
    @Option(name: .customLong("export-user"), help: "User every client of --export acts as (default: nobody when run as root, else the user running pebble9p).")
    var exportUser: String?
    @Option(name: .customLong("max-msize"), parsing: .unconditional, help: "Largest msize agreed to.")
    var maxMsize: String?
    @Option(name: .customLong("bridge-msize"), help: "on|off: clients may use max-msize even when the file server's msize is smaller; their large reads and writes go to it as pieces, together (default on).")
    var bridgeMsize: String?
    @Option(name: .customLong("read-ahead"), help: "on|off: on a regular file read sequentially, keep the next reads in flight to the file server and answer from them, never with data read more than 50 ms before (default on).")
    var readAhead: String?
    @Option(name: .customLong("read-ahead-max"), help: "Bytes one fid may have read ahead, e.g. 4M (the default).")
    var readAheadMax: String?
    @Option(name: .customLong("no-read-ahead"), help: "GLOB: files never read ahead (their reads have effects); with a /, matched against the path below the attach point (/ctl), else against the name (repeatable).")
    var noReadAhead: [String] = []
    @Option(parsing: .unconditional, help: "Event loops (threads); default: one per core, at least 4.")
    var loops: String?
    @Option(name: .customLong("max-inflight"), parsing: .unconditional, help: "Requests per session at the server at once; more are held (Tflush never is).")
    var maxInFlight: String?
    @Option(name: .customLong("max-fids"), parsing: .unconditional, help: "Fids one session may hold.")
    var maxFids: String?
    @Option(name: .customLong("max-conns"), parsing: .unconditional, help: "Client connections (sessions) open at once; further ones wait to be accepted until one ends.")
    var maxConns: String?
    @Option(name: .customLong("queue-limit"), parsing: .unconditional, help: "Bytes queued per direction or held before the client is paused, and reply bytes reads at the server may bring before requests are held.")
    var queueLimit: String?
    @Option(name: .customLong("drain-timeout"), parsing: .unconditional, help: "Seconds a leaving client's cleanup may take.")
    var drainTimeout: String?
    @Option(name: .customLong("handshake-timeout"), parsing: .unconditional, help: "Seconds a new connection has to finish Tversion.")
    var handshakeTimeout: String?
    @Option(name: .customLong("frame-timeout"), parsing: .unconditional, help: "Seconds a client may take to send one frame once it began (slowloris); 0: no limit (default 60).")
    var frameTimeout: String?
    @Option(name: .customLong("idle-timeout"), parsing: .unconditional, help: "Seconds a session may stay idle before it is closed; 0: never (the default).")
    var idleTimeout: String?
    @Option(help: "HOST:PORT where GET /metrics serves Prometheus text.")
    var metrics: String?
    @Option(help: "on|off: budgets (quota, rates, per-client sessions, fids and requests, frame, idle and backend timeouts, token budget caveats); off is a transparent proxy with the old safety limits.")
    var pebble: String?
    @Option(name: .customLong("backend-timeout"), parsing: .unconditional, help: "Seconds a request may be at the server before the client gets EIO and the server a Tflush; 0: never (the default).")
    var backendTimeout: String?
    @Option(name: .customLong("max-conns-per-client"), parsing: .unconditional, help: "Sessions one client address (and one verified identity) may have open at once (0: no limit).")
    var maxConnsPerClient: String?
    @Option(name: .customLong("max-fids-per-client"), parsing: .unconditional, help: "Fids one identity may hold over all its sessions; past it a request that makes one gets EDQUOT (0: no limit).")
    var maxFidsPerClient: String?
    @Option(name: .customLong("max-requests-per-client"), parsing: .unconditional, help: "Requests of one identity taken and not yet answered, over all its sessions; past it a request gets EDQUOT (0: no limit).")
    var maxRequestsPerClient: String?
    @Option(name: .customLong("rate-ops"), parsing: .unconditional, help: "Requests per second, per session and per identity (0: no limit).")
    var rateOps: String?
    @Option(name: .customLong("rate-bytes"), help: "Bytes read and written per second, per session and per identity, e.g. 20M (0: no limit).")
    var rateBytes: String?
    @Option(help: "Bytes held for one identity (requests, the replies they may bring, its buffers) before a request gets EDQUOT, e.g. 512M (default 256M; 0: none).")
    var quota: String?
    @Option(name: .customLong("max-memory"), help: "Bytes all sessions may hold together before new connections wait to be accepted, e.g. 2G (default 0: no ceiling).")
    var maxMemory: String?
    @Option(name: .customLong("client-budget"), help: "'IDENTITY KEY=VALUE ...': budgets for one identity (dns:NAME, uri:URI, cn:NAME, token:ID, addr:HOST) in place of the defaults; keys quota, rate-ops, rate-bytes, max-conns-per-client, max-fids-per-client, max-requests-per-client, max-fids, max-inflight, max-msize, blue (repeatable).")
    var clientBudget: [String] = []
    @Option(name: .customLong("write-through"), help: "GLOB: files whose writes always go to the server at once with --blue on; with a /, matched against the path below the attach point (/ctl), else against the name (*.log) (repeatable).")
    var writeThrough: [String] = []
    @Option(name: .customLong("burst-s"), help: "Seconds of a rate that may be spent at once after a quiet spell (default 1).")
    var burstSeconds: String?
    @Option(name: .customLong("splice-min"), parsing: .unconditional, help: "Bytes of a read/write payload still to arrive from which it is spliced, not copied; 0: never.")
    var spliceMinimum: String?
    @Option(help: "on|off: hold a fid's writes until it is clunked or fsynced, then replace the file atomically, so a client that dies mid-write changes nothing (9P2000.L; default on).")
    var blue: String?
    @Option(name: .customLong("blue-max"), help: "Bytes one fid holds in memory before it streams to its commit's temporary on the server, and the largest file an edit copies, e.g. 64M (the default).")
    var blueMax: String?
    @Option(name: .customLong("blue-dir"), help: "Directory where a fid's held bytes past --blue-memory go, in unnamed files (default: a private directory under the system temp dir, mode 0700).")
    var blueDir: String?
    @Option(name: .customLong("blue-memory"), help: "Bytes one fid holds in memory before the rest go to a file in --blue-dir, e.g. 1M (the default).")
    var blueMemory: String?
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical.")
    var logLevel: String?
    @Option(name: .customLong("token-keys"), help: "Capability token key file (mode 0600; made by pebble9p token keygen).")
    var tokenKeys: String?
    @Option(help: "File of revoked token ids, one per line; re-read on SIGHUP.")
    var revoked: String?
    @Flag(name: .customLong("require-token"), help: "Refuse an attach that presents no capability token.")
    var requireToken = false
    @Option(name: .customLong("backend-aname"), help: "Aname the gateway attaches with for a token's session (default: the --export directory, else empty).")
    var backendAname: String?
    @Option(name: .customLong("backend-uname"), help: "User a token's session attaches as when the token names none (default: the client's).")
    var backendUname: String?
    @Option(help: "File security events are appended to, as JSON lines (default: stderr).")
    var audit: String?

    /// Flag values by config key.
    var given: [(key: String, value: ConfigValue?)] {
        let words: [(String, String?)] = [("tls-cert", tlsCert), ("tls-key", tlsKey), ("client-ca", clientCA), ("client-crl", clientCRL),
            ("client-auth", clientAuth), ("tls-min", tlsMin), ("tls-ciphers", tlsCiphers), ("tls-ciphersuites", tlsCipherSuites),
            ("route-strict", routeStrict ? "true" : nil), ("backend", backend), ("export", export), ("diod", diod), ("export-user", exportUser),
         ("max-msize", maxMsize), ("bridge-msize", bridgeMsize), ("read-ahead", readAhead), ("read-ahead-max", readAheadMax), ("loops", loops), ("max-inflight", maxInFlight), ("max-fids", maxFids),
         ("max-conns", maxConns), ("queue-limit", queueLimit), ("drain-timeout", drainTimeout),
         ("handshake-timeout", handshakeTimeout), ("frame-timeout", frameTimeout), ("idle-timeout", idleTimeout),
         ("metrics", metrics), ("pebble", pebble), ("backend-timeout", backendTimeout), ("max-conns-per-client", maxConnsPerClient),
         ("max-fids-per-client", maxFidsPerClient), ("max-requests-per-client", maxRequestsPerClient), ("rate-ops", rateOps), ("rate-bytes", rateBytes), ("burst-s", burstSeconds),
         ("quota", quota), ("max-memory", maxMemory),
         ("splice-min", spliceMinimum), ("blue", blue), ("blue-max", blueMax), ("blue-dir", blueDir), ("blue-memory", blueMemory), ("log-level", logLevel),
         ("token-keys", tokenKeys), ("revoked", revoked), ("require-token", requireToken ? "true" : nil),
         ("backend-aname", backendAname), ("backend-uname", backendUname), ("audit", audit)]
        let lists: [(String, [String])] = [("listen", listen), ("tls-listen", tlsListen), ("route", route), ("client-budget", clientBudget), ("write-through", writeThrough), ("no-read-ahead", noReadAhead)]
        return words.map { ($0, $1.map(ConfigValue.word)) }
            + lists.map { ($0, $1.isEmpty ? nil : ConfigValue.list($1.map(ConfigValue.word))) }
    }

    func load() throws(ConfigError) -> GatewayConfig {
        var result = GatewayConfig()
        if let config {
            do {
                try ConfigFile.load(path: config, into: &result)
            } catch {
                throw ConfigError(key: nil, message: "\(config): \(error)")
            }
        }
        for (key, value) in given {
            guard let value else { continue }
            do {
                try result.set(key, value)
            } catch {
                throw ConfigError(key: "--\(key)", message: error.message)
            }
        }
        if export != nil && backend == nil { result.backend = nil }
        if backend != nil && export == nil { result.export = nil }
        try result.validate()
        return result
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @OptionGroup var options: SettingOptions

    func run() throws {
        let config: GatewayConfig
        do {
            config = try options.load()
        } catch {
            FileHandle.standardError.write(Data("pebble9p: \(error)\n".utf8))
            throw ExitCode(2)
        }
        bootstrapLogging(config.logLevel)
        let server = GatewayServer(config: config, logger: Logger(label: "pebble9p"))
        do {
            try server.run()
        } catch {
            FileHandle.standardError.write(Data("pebble9p: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Logging to stderr at `level`, as every subcommand that runs loops logs.
func bootstrapLogging(_ level: String) {
    let level = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

struct Tunnel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plain 9P in, TLS to a pebble9p gateway out: how clients without TLS (mount -t 9p, diodcat, p9fs) reach one.")

    @Option(help: "Address local clients connect to, HOST:PORT (repeatable; default 127.0.0.1:5640).")
    var listen: [String] = []
    @Option(help: "The gateway's TLS address, HOST:PORT.")
    var connect: String
    @Option(help: "CA certificates the gateway's certificate must chain to (PEM).")
    var ca: String
    @Option(help: "Client certificate for a gateway that asks for one (PEM).")
    var cert: String?
    @Option(help: "Private key of --cert (PEM).")
    var key: String?
    @Option(name: .customLong("server-name"), help: "Name the gateway's certificate must carry, also sent as SNI (default: the host of --connect).")
    var serverName: String?
    @Option(name: .customLong("tls-min"), help: "Lowest TLS version: 1.3 (default) or 1.2.")
    var tlsMin = "1.3"
    @Option(parsing: .unconditional, help: "Event loops (threads); default: one per core, at least 4.")
    var loops = GatewayConfig.defaultLoops
    @Option(name: .customLong("max-conns"), parsing: .unconditional, help: "Client connections open at once; more wait to be accepted.")
    var maxConns = 1024
    @Option(name: .customLong("handshake-timeout"), parsing: .unconditional, help: "Seconds the TLS handshake with the gateway may take.")
    var handshakeTimeout = 30
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical.")
    var logLevel = "info"

    func run() throws {
        var config = TunnelConfig()
        if !listen.isEmpty { config.listen = listen }
        config.connect = connect
        config.caFile = ca
        config.certificateFile = cert
        config.keyFile = key
        config.serverName = serverName
        config.tlsMin = tlsMin
        config.loops = loops
        config.maxConns = maxConns
        config.handshakeTimeout = handshakeTimeout
        config.logLevel = logLevel
        do {
            try config.validate()
        } catch {
            FileHandle.standardError.write(Data("pebble9p tunnel: \(error)\n".utf8))
            throw ExitCode(2)
        }
        bootstrapLogging(config.logLevel)
        do {
            try TunnelServer(config: config, logger: Logger(label: "pebble9p-tunnel")).run()
        } catch {
            FileHandle.standardError.write(Data("pebble9p tunnel: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a config file and report the first bad key and line.")

    @Option(help: "Config file to check.")
    var config: String

    func run() throws {
        var result = GatewayConfig()
        do {
            try ConfigFile.load(path: config, into: &result)
            try result.validate()
        } catch {
            FileHandle.standardError.write(Data("\(config): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let listening = result.endpoints.map { "\($0.address)\($0.tls ? " (TLS)" : "")" }.joined(separator: ", ")
        print("\(config): OK (backend \(try result.resolvedBackend()), listen \(listening))")
    }
}
