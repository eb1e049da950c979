import Foundation
import Testing
@testable import Gateway

/// Runs `body` and returns the `ConfigError` it threw, or nil.
private func caught(_ body: () throws(ConfigError) -> Void) -> ConfigError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

/// Parses `text` into a default config and returns the error it raised, or nil.
private func parseError(_ text: String) -> ConfigError? {
    var config = GatewayConfig()
    return caught { () throws(ConfigError) in try ConfigFile.parse(text, into: &config) }
}

@Suite("Config file")
struct ConfigFileTests {
    static let fullFile = """
    # pebble9p.toml: every key
    listen = "127.0.0.1:5641"
    tls-listen = ["127.0.0.1:5643", "127.0.0.1:5644"]
    tls-cert = "/etc/pebble9p/server.pem"
    tls-key = "/etc/pebble9p/server.key"
    client-ca = "/etc/pebble9p/ca.pem"
    client-crl = "/etc/pebble9p/crl.pem"
    client-auth = "optional"
    tls-min = "1.2"
    tls-ciphers = "ECDHE+AESGCM"
    tls-ciphersuites = "TLS_AES_128_GCM_SHA256"
    route = ["Archive.example.org=tcp:10.0.0.5:564", "scratch.example.org=unix:/run/scratch.sock"]
    route-strict = true
    backend = "tcp:127.0.0.1:564"   # diod
    export = "/srv/export"

    diod = "/usr/sbin/diod"
    export-user = "daemon"
    max-msize = 131_072
    bridge-msize = "off"
    loops = 3
    max-inflight = 64
    max-fids = 1000
    max-conns = 50
    queue-limit = 65536
    drain-timeout = 0
    handshake-timeout = 5
    frame-timeout = 7
    idle-timeout = 600
    rate-ops = 1000
    max-conns-per-client = 8
    max-fids-per-client = 4000
    blue = "on"
    blue-max = "16M"
    blue-dir = "/var/tmp/pebble9p-blue"
    blue-memory = "2M"
    write-through = ["ctl", "/logs/*.log"]
    read-ahead = "off"
    read-ahead-max = "1M"
    no-read-ahead = ["ctl", "/dev/*"]
    max-requests-per-client = 900
    backend-timeout = 30
    metrics = "127.0.0.1:9095"
    pebble = "off"
    rate-bytes = "20M"
    burst-s = "0.5"
    splice-min = 0
    log-level = "debug"
    token-keys = "/etc/pebble9p/token.keys"
    revoked = "/etc/pebble9p/revoked"
    require-token = true
    backend-aname = "/srv/export"
    backend-uname = "nobody"
    audit = "/var/log/pebble9p/audit.jsonl"
    quota = "512M"
    max-memory = "2G"
    client-budget = ["dns:batch.example.org quota=1G rate-bytes=200M", "addr:10.0.0.9 rate-ops=50 max-conns-per-client=2"]
    """

    @Test("a full valid file sets every key")
    func fullFile() throws {
        var config = GatewayConfig()
        try ConfigFile.parse(Self.fullFile, into: &config)
        var expected = GatewayConfig()
        expected.listen = ["127.0.0.1:5641"]
        expected.tlsListen = ["127.0.0.1:5643", "127.0.0.1:5644"]
        expected.tlsCert = "/etc/pebble9p/server.pem"
        expected.tlsKey = "/etc/pebble9p/server.key"
        expected.clientCA = "/etc/pebble9p/ca.pem"
        expected.clientCRL = "/etc/pebble9p/crl.pem"
        expected.clientAuth = .optional
        expected.tlsMin = "1.2"
        expected.tlsCiphers = "ECDHE+AESGCM"
        expected.tlsCipherSuites = "TLS_AES_128_GCM_SHA256"
        expected.routes = [ServerRoute(name: "archive.example.org", backend: .tcp(host: "10.0.0.5", port: 564)),
                           ServerRoute(name: "scratch.example.org", backend: .unix(path: "/run/scratch.sock"))]
        expected.routeStrict = true
        expected.backend = .tcp(host: "127.0.0.1", port: 564)
        expected.export = "/srv/export"
        expected.diod = "/usr/sbin/diod"
        expected.exportUser = "daemon"
        expected.maxMsize = 131_072
        expected.bridgeMsize = false
        expected.loops = 3
        expected.maxInFlight = 64
        expected.maxFids = 1000
        expected.maxConns = 50
        expected.queueLimit = 65_536
        expected.drainTimeout = 0
        expected.handshakeTimeout = 5
        expected.frameTimeout = 7
        expected.idleTimeout = 600
        expected.rateOps = 1000
        expected.maxConnsPerClient = 8
        expected.maxFidsPerClient = 4000
        expected.blue = true
        expected.blueMax = 16 << 20
        expected.blueDir = "/var/tmp/pebble9p-blue"
        expected.blueMemory = 2 << 20
        expected.writeThrough = ["ctl", "/logs/*.log"]
        expected.readAhead = false
        expected.readAheadMax = 1 << 20
        expected.noReadAhead = ["ctl", "/dev/*"]
        expected.maxRequestsPerClient = 900
        expected.backendTimeout = 30
        expected.metrics = "127.0.0.1:9095"
        expected.pebble = false
        expected.rateBytes = 20 << 20
        expected.burstSeconds = 0.5
        expected.spliceMinimum = 0
        expected.logLevel = "debug"
        expected.tokenKeys = "/etc/pebble9p/token.keys"
        expected.revoked = "/etc/pebble9p/revoked"
        expected.requireToken = true
        expected.backendAname = "/srv/export"
        expected.backendUname = "nobody"
        expected.audit = "/var/log/pebble9p/audit.jsonl"
        expected.quota = 512 << 20
        expected.maxMemory = 2 << 30
        expected.clientBudgets = [try ClientBudget(parsing: "dns:batch.example.org quota=1G rate-bytes=200M"),
                                  try ClientBudget(parsing: "addr:10.0.0.9 rate-ops=50 max-conns-per-client=2")]
        #expect(expected.clientBudgets.first?.quota == 1 << 30 && expected.clientBudgets.first?.rateBytes == 200 << 20)
        #expect(expected.clientBudgets.last?.rateOps == 50 && expected.clientBudgets.last?.maxConnsPerClient == 2)
        #expect(config == expected)

        // The file above names every setting there is, so a new key cannot go untested.
        let keys = Self.fullFile.split(separator: "\n").compactMap { line -> String? in
            guard let equals = line.firstIndex(of: "="), !line.hasPrefix("#") else { return nil }
            return String(line[..<equals]).trimmingSpaces
        }
        #expect(Set(keys) == Set(GatewayConfig.settings.map(\.key)))
    }

    @Test("--pebble off turns the budgets off and keeps the safety limits; on (the default) changes nothing")
    func pebbleOff() throws {
        var config = GatewayConfig()
        for (key, value) in [("rate-ops", "10"), ("rate-bytes", "1M"), ("max-conns-per-client", "2"), ("frame-timeout", "5"),
                             ("max-fids-per-client", "100"), ("max-requests-per-client", "64"),
                             ("idle-timeout", "9"), ("backend-timeout", "7"), ("max-fids", "50"), ("quota", "1M"),
                             ("client-budget", "dns:a quota=2M"), ("max-memory", "1G")] {
            try config.set(key, .word(value))
        }
        #expect(config.effective == config, "on by default")
        try config.set("pebble", .word("off"))
        let off = config.effective
        #expect(off.rateOps == 0 && off.rateBytes == 0 && off.maxConnsPerClient == 0 && off.maxFidsPerClient == 0 && off.maxRequestsPerClient == 0)
        #expect(off.frameTimeout == 0 && off.idleTimeout == 0 && off.backendTimeout == 0)
        #expect(off.quota == 0 && off.clientBudgets.isEmpty)
        // The memory ceiling is a guard of the whole process, not a client's budget: it stays.
        #expect(off.maxFids == 50 && off.maxInFlight == config.maxInFlight && off.queueLimit == config.queueLimit && off.maxMemory == 1 << 30)
        #expect(throws: ConfigError.self) { try config.set("pebble", .word("maybe")) }
    }

    @Test("client-budget: an identity and KEY=VALUE budgets; a bad identity, key or value, or an identity given twice, is named")
    func clientBudgets() throws {
        let budget = try ClientBudget(parsing: "  uri:spiffe://example.org/batch   quota=0  rate-ops=5 ")
        #expect(budget.identity == "uri:spiffe://example.org/batch" && budget.quota == 0 && budget.rateOps == 5 && budget.rateBytes == nil)
        for bad in ["dns:a", "alice quota=1M", "peer:1.2.3.4:5 quota=1M", "dns: quota=1M", "dns:a quota", "dns:a speed=3",
                    "dns:a quota=lots", "dns:a max-conns-per-client=0", "dns:a max-fids-per-client=0", "dns:a max-requests-per-client=-1"] {
            #expect(throws: ConfigError.self, "\(bad)") { try ClientBudget(parsing: bad) }
        }
        var config = GatewayConfig()
        config.backend = .tcp(host: "127.0.0.1", port: 564)
        try config.set("client-budget", .list([.string("dns:a quota=1M"), .string("dns:a rate-ops=3")]))
        #expect(throws: ConfigError(key: "client-budget", message: "dns:a is given twice")) { try config.validate() }
    }

    @Test("the ledgers and rates made from the config: defaults, each identity's override, none when nothing is set")
    func derivedBudgets() throws {
        var config = GatewayConfig()
        (config.quota, config.rateOps) = (0, 0)
        #expect(config.byteLedgers == nil && config.sharedRates == nil && config.connectionCounts == nil)
        #expect(config.fidLedgers == nil && config.requestLedgers == nil)
        config.clientBudgets = [try ClientBudget(parsing: "dns:big quota=1G rate-ops=100 max-conns-per-client=3 max-fids-per-client=70 max-requests-per-client=20"),
                                try ClientBudget(parsing: "addr:10.0.0.9 quota=0")]
        config.quota = 256 << 20
        let bytes = try #require(config.byteLedgers)
        #expect(bytes.limit(for: "dns:big") == 1 << 30 && bytes.limit(for: "dns:other") == 256 << 20 && bytes.limit(for: "addr:10.0.0.9") == .max)
        let rates = try #require(config.sharedRates)
        #expect(rates.rates(for: "dns:big").opsPerSecond == 100 && rates.rates(for: "dns:other").opsPerSecond == nil)
        let counts = try #require(config.connectionCounts)
        #expect(counts.limit(for: "dns:big") == 3 && counts.limit(for: "addr:1.2.3.4") == .max)
        config.maxRequestsPerClient = 500
        let fids = try #require(config.fidLedgers), requests = try #require(config.requestLedgers)
        #expect(fids.limit(for: "dns:big") == 70 && fids.limit(for: "dns:other") == .max)
        #expect(requests.limit(for: "dns:big") == 20 && requests.limit(for: "dns:other") == 500)
        #expect(config.clientLimits.isEmpty, "no per-session limit overridden")
        #expect(config.blueSettings?.maxPerFid == 64 << 20 && config.clientBlue.isEmpty, "Blue is on by default")
        config.clientBudgets.append(try ClientBudget(parsing: "cn:lab max-fids=9 max-msize=16384 blue=on"))
        config.clientBudgets.append(try ClientBudget(parsing: "cn:other blue=off"))
        #expect(config.clientBlue["cn:lab"]??.maxPerFid == config.blueMax && config.clientBlue["cn:other"] == .some(nil))
        let lab = try #require(config.clientLimits["cn:lab"])
        #expect(lab.maxFids == 9 && lab.maxMsize == 16384 && lab.maxInFlight == config.maxInFlight)
    }

    @Test("an empty file, blank lines and comments change nothing")
    func emptyFile() throws {
        var config = GatewayConfig()
        try ConfigFile.parse("", into: &config)
        try ConfigFile.parse("\n  \n# only a comment\n\t# indented comment\n", into: &config)
        #expect(config == GatewayConfig())
    }

    @Test("# inside a string is not a comment; escapes are decoded")
    func stringsAndComments() throws {
        var config = GatewayConfig()
        try ConfigFile.parse(#"""
        backend = "exec:echo '#1' \"x\"" # the comment
        diod = "C:\\srv\tdata\n"
        """#, into: &config)
        #expect(config.backend == .exec(command: #"echo '#1' "x""#))
        #expect(config.diod == "C:\\srv\tdata\n")
    }

    @Test("CRLF line endings are read as lines")
    func crlf() throws {
        var config = GatewayConfig()
        try ConfigFile.parse("loops = 2\r\nlog-level = \"warning\"\r\n\r\nmax-fids = 7\r\n", into: &config)
        #expect(config.loops == 2)
        #expect(config.logLevel == "warning")
        #expect(config.maxFids == 7)
        #expect(parseError("loops = 2\r\nnope = 1\r\n")?.line == 2)
    }

    @Test("an unknown key names its line and key")
    func unknownKey() throws {
        let error = try #require(parseError("loops = 2\n\nmax-msiz = 8192\n"))
        #expect(error.line == 3)
        #expect(error.key == "max-msiz")
        #expect(error.message.contains("unknown key"))
        #expect(error.description.hasPrefix("line 3: key \"max-msiz\": "))
    }

    @Test("a value of the wrong type names its line and key",
          arguments: [("loops = \"four\"", "loops"), ("listen = 5640", "listen"), ("log-level = 3", "log-level"),
                      ("max-fids = 12abc", "max-fids"), ("diod = true", "diod")])
    func badType(line: String, key: String) throws {
        let error = try #require(parseError("# header\n" + line))
        #expect(error.line == 2)
        #expect(error.key == key)
    }

    @Test("an integer out of range names its line and key",
          arguments: [("loops = 0", "loops"), ("loops = 1000", "loops"), ("max-msize = 100", "max-msize"),
                      ("max-msize = 5_000_000_000", "max-msize"), ("max-inflight = 60001", "max-inflight"),
                      ("queue-limit = 1024", "queue-limit"), ("drain-timeout = -1", "drain-timeout"),
                      ("max-fids = 0", "max-fids"), ("max-conns = 0", "max-conns"),
                      ("max-conns = 2_000_000", "max-conns")])
    func outOfRange(line: String, key: String) throws {
        let error = try #require(parseError("\n" + line + "\n"))
        #expect(error.line == 2)
        #expect(error.key == key)
        #expect(error.message.contains("outside"))
    }

    @Test("a bad value that parses names its line and key")
    func badValues() throws {
        var error = try #require(parseError("log-level = \"loud\""))
        #expect(error.line == 1)
        #expect(error.key == "log-level")
        error = try #require(parseError("\nbackend = \"ftp:host\""))
        #expect(error.line == 2)
        #expect(error.key == "backend")
        error = try #require(parseError("listen = \"no-port\""))
        #expect(error.line == 1)
        #expect(error.key == "listen")
    }

    @Test("a key set twice names the second line")
    func duplicateKey() throws {
        let error = try #require(parseError("loops = 2\nlog-level = \"info\"\nloops = 3\n"))
        #expect(error.line == 3)
        #expect(error.key == "loops")
    }

    @Test("an unterminated string names its line and key",
          arguments: ["log-level = \"debug", "log-level = \"", "log-level = \"debug # not a comment",
                      "log-level = \"debug\\\""])
    func unterminatedString(line: String) throws {
        let error = try #require(parseError("loops = 2\n" + line))
        #expect(error.line == 2)
        #expect(error.key == "log-level")
    }

    @Test("other malformed lines name their line", arguments: [
        "[server]", "[[backends]]", "loops 2", "= 2", "lo ops = 2", "loops = ", "diod = \"a\" \"b\"", "diod = \"\\q\"",
        "loops = _2", "loops = 2_", "loops = 1__0", "loops = 1_ 0",
    ])
    func malformedLine(line: String) throws {
        let error = try #require(parseError("# comment\nloops = 2\n" + line + "\n"))
        #expect(error.line == 3)
    }

    @Test("listen takes one address or a one-line list of them (a trailing comma allowed); a flag may repeat")
    func listenLists() throws {
        var config = GatewayConfig()
        try ConfigFile.parse("listen = [\"127.0.0.1:5641\", \"127.0.0.1:5642\",]  # two\n", into: &config)
        #expect(config.listen == ["127.0.0.1:5641", "127.0.0.1:5642"])
        #expect(config.endpoints == [ListenEndpoint(address: "127.0.0.1:5641", tls: false), ListenEndpoint(address: "127.0.0.1:5642", tls: false)])
        try config.set("listen", .list([.word("127.0.0.1:7000")]))
        #expect(config.listen == ["127.0.0.1:7000"])
        #expect(GatewayConfig().endpoints == [ListenEndpoint(address: "127.0.0.1:5640", tls: false)], "the default")
        var tlsOnly = GatewayConfig()
        tlsOnly.tlsListen = ["127.0.0.1:5643"]
        #expect(tlsOnly.endpoints == [ListenEndpoint(address: "127.0.0.1:5643", tls: true)], "with only tls-listen, no plain port")
    }

    @Test("bad lists name their line and key", arguments: [
        "listen = [\"127.0.0.1:1\"", "listen = [1]", "listen = [,]", "listen = [\"a\" \"b\"]", "loops = [\"2\"]",
        "listen = [\"nohost\"]",
    ])
    func badLists(line: String) throws {
        let error = try #require(parseError("loops = 2\n" + line + "\n"))
        #expect(error.line == 2, "\(error)")
    }

    @Test("a route is NAME=SPEC with a server name; route-strict is true or false", arguments: [
        "route = [\"=tcp:1.2.3.4:5\"]", "route = [\"a b=tcp:1.2.3.4:5\"]", "route = [\"name\"]", "route = [\"a.example=ftp:x\"]",
        "route-strict = 1", "route-strict = \"yes\"",
    ])
    func badRoutes(line: String) throws {
        let error = try #require(parseError("loops = 2\n" + line + "\n"))
        #expect(error.line == 2, "\(error)")
    }

    @Test("an address given twice is refused by validate")
    func duplicateAddress() throws {
        var config = GatewayConfig()
        config.backend = .tcp(host: "127.0.0.1", port: 564)
        config.listen = ["127.0.0.1:5641", "127.0.0.1:5641"]
        let error = try #require(caught { () throws(ConfigError) in try config.validate() })
        #expect(error.key == "listen" && error.message.contains("twice"), "\(error)")
    }

    @Test("a [table] is refused with the line")
    func table() throws {
        let error = try #require(parseError("loops = 2\n[gateway]\nmax-fids = 3\n"))
        #expect(error.line == 2)
        #expect(error.message.contains("tables"))
    }

    @Test("command-line words are accepted where strings or integers are expected")
    func words() throws {
        var config = GatewayConfig()
        try config.set("loops", .word("4"))
        try config.set("diod", .word("/opt/diod"))
        try config.set("backend", .word("unix:/run/diod.sock"))
        #expect(config.loops == 4)
        #expect(config.diod == "/opt/diod")
        #expect(config.backend == .unix(path: "/run/diod.sock"))
        let error = try #require(caught { () throws(ConfigError) in try config.set("loops", .word("four")) })
        #expect(error.key == "loops")
        #expect(error.line == nil)
        #expect(error.description.hasPrefix("key \"loops\": "))
    }
}

@Suite("Backend spec")
struct BackendSpecTests {
    @Test("tcp:, unix: and exec: parse", arguments: [
        ("tcp:127.0.0.1:564", BackendSpec.tcp(host: "127.0.0.1", port: 564)),
        ("tcp:fileserver.example:5640", .tcp(host: "fileserver.example", port: 5640)),
        ("tcp:::1:564", .tcp(host: "::1", port: 564)),
        ("tcp:[::1]:564", .tcp(host: "::1", port: 564)),
        ("unix:/run/diod.sock", .unix(path: "/run/diod.sock")),
        ("unix:relative/sock", .unix(path: "relative/sock")),
        ("exec:diod -r 0 -w 1 -e /srv", .exec(command: "diod -r 0 -w 1 -e /srv")),
        ("exec:  u9fs  ", .exec(command: "u9fs")),
    ])
    func parses(text: String, expected: BackendSpec) throws {
        let spec = try BackendSpec(parsing: text)
        #expect(spec == expected)
        #expect(try BackendSpec(parsing: spec.description) == spec)
    }

    @Test("bad backends are refused under the key \"backend\"", arguments: [
        "", "tcp:", "tcp:host", "tcp::564", "tcp:host:", "tcp:host:65536", "tcp:host:-1", "tcp:host:port",
        "unix:", "exec:", "exec:   ", "ftp://host", "TCP:host:564", "/run/diod.sock", "host:564",
    ])
    func refuses(text: String) throws {
        let error = try #require(caught { () throws(ConfigError) in _ = try BackendSpec(parsing: text) })
        #expect(error.key == "backend")
    }

    @Test("the embedded diod quotes its directory for the shell")
    func diodQuoting() {
        #expect(BackendSpec.diod(exporting: "/srv/it's here", diodPath: "/usr/sbin/diod", user: "o'neil")
            == .exec(command: "exec '/usr/sbin/diod' -n -S -U 'o'\\''neil' -c /dev/null -L stderr -r 0 -w 1 -e '/srv/it'\\''s here'"))
    }
}

@Suite("Gateway config")
struct GatewayConfigTests {
    @Test("validate rejects backend and export together")
    func bothBackendAndExport() throws {
        var config = GatewayConfig()
        config.backend = .tcp(host: "127.0.0.1", port: 564)
        config.export = FileManager.default.temporaryDirectory.path
        let error = try #require(caught { () throws(ConfigError) in try config.validate() })
        #expect(error.key == "export")
    }

    @Test("validate rejects neither backend nor export")
    func neither() throws {
        let error = try #require(caught { () throws(ConfigError) in try GatewayConfig().validate() })
        #expect(error.key == "backend")
    }

    @Test("validate accepts a backend alone, and an existing directory as export")
    func valid() throws {
        var config = GatewayConfig()
        config.backend = .unix(path: "/run/diod.sock")
        try config.validate()
        #expect(try config.resolvedBackend() == .unix(path: "/run/diod.sock"))

        var exporting = GatewayConfig()
        let directory = FileManager.default.temporaryDirectory.path
        exporting.export = directory
        exporting.diod = "/bin/sh"
        try exporting.validate()
        #expect(try exporting.resolvedBackend() == .diod(exporting: directory, diodPath: "/bin/sh", user: exporting.exportUser))
        // Root's clients act as nobody; anyone else's as the user running the gateway.
        let runningUser = try #require(getpwuid(geteuid())).pointee.pw_name.map { String(cString: $0) }
        #expect(exporting.exportUser == (geteuid() == 0 ? "nobody" : runningUser))
    }

    @Test("an export that cannot run is refused before serving: no diod, no such user, a relative directory made absolute")
    func exportChecks() throws {
        var config = GatewayConfig()
        config.export = FileManager.default.temporaryDirectory.path
        config.diod = "/nonexistent/diod"
        #expect(caught { () throws(ConfigError) in try config.validate() }?.key == "diod")
        config.diod = "sh"  // found through PATH
        config.exportUser = "no-such-user-pebble9p"
        #expect(caught { () throws(ConfigError) in try config.validate() }?.key == "export-user")

        try config.set("export", .word("relative/dir"))
        #expect(config.export == FileManager.default.currentDirectoryPath + "/relative/dir")
    }

    @Test("a backend that serving could never reach is refused: port 0, an unresolvable host, a unix path too long")
    func unreachableBackends() throws {
        for backend in ["tcp:127.0.0.1:0", "tcp:no-such-host.invalid:564", "unix:/" + String(repeating: "x", count: 200)] {
            var config = GatewayConfig()
            try config.set("backend", .word(backend))
            #expect(caught { () throws(ConfigError) in try config.validate() } != nil, "\(backend)")
        }
    }

    @Test("validate rejects an export that is not a directory")
    func exportNotDirectory() throws {
        var config = GatewayConfig()
        config.export = "/nonexistent/pebble9p-test"
        var error = try #require(caught { () throws(ConfigError) in try config.validate() })
        #expect(error.key == "export")
        config.export = "/etc/hostname"
        if FileManager.default.fileExists(atPath: "/etc/hostname") {
            error = try #require(caught { () throws(ConfigError) in try config.validate() })
            #expect(error.key == "export")
        }
    }

    @Test("validate checks ranges set outside the file")
    func ranges() throws {
        var config = GatewayConfig()
        config.backend = .unix(path: "/s")
        config.loops = 0
        #expect(caught { () throws(ConfigError) in try config.validate() }?.key == "loops")
        config.loops = 1
        config.logLevel = "loud"
        #expect(caught { () throws(ConfigError) in try config.validate() }?.key == "log-level")
    }

    @Test("setting keys are unique")
    func uniqueKeys() {
        let keys = GatewayConfig.settings.map(\.key)
        #expect(Set(keys).count == keys.count)
        for key in keys {
            #expect(!key.isEmpty && key.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" }, "\(key)")
        }
    }
}
