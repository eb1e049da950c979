import Pebble

/// Budgets for one identity in place of the defaults (`client-budget`): a trusted batch host may
/// get a larger quota, an untrusted one a lower rate. The identity is what the gateway keys budgets
/// on: a verified certificate's `uri:…`, `dns:…` or `cn:…`, else `token:ID` (the token id of the
/// session's first attach with a token), else `addr:HOST` (the client's address without port).
public struct ClientBudget: Sendable, Equatable {
    public var identity: String
    public var quota: Int?
    public var rateOps: Int?
    public var rateBytes: Int?
    public var maxConnsPerClient: Int?
    public var maxFidsPerClient: Int?
    public var maxRequestsPerClient: Int?
    /// The per-session limits of this identity's sessions, in place of `max-fids`, `max-inflight`
    /// and `max-msize`.
    public var maxFids: Int?
    public var maxInFlight: Int?
    public var maxMsize: UInt32?
    /// Blue writes on or off for this identity's sessions, in place of `blue`.
    public var blue: Bool?

    /// The keys a budget may set.
    static let keys = ["quota", "rate-ops", "rate-bytes", "max-conns-per-client", "max-fids-per-client", "max-requests-per-client",
                       "max-fids", "max-inflight", "max-msize", "blue"]

    /// "IDENTITY KEY=VALUE …", e.g. "dns:batch.example.org quota=1G rate-bytes=200M".
    init(parsing text: String) throws(ConfigError) {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let identity = words.first, let colon = identity.firstIndex(of: ":"),
              Self.sources.contains(String(identity[..<colon])), identity.index(after: colon) < identity.endIndex else {
            throw ConfigError(key: nil, message: "expected IDENTITY KEY=VALUE ... with IDENTITY uri:, dns:, cn:, token: or addr:, got \"\(text)\"")
        }
        self.identity = identity
        guard words.count > 1 else { throw ConfigError(key: nil, message: "\(identity): no budget given (\(Self.keys.joined(separator: ", ")))") }
        for word in words.dropFirst() {
            guard let equals = word.firstIndex(of: "=") else { throw ConfigError(key: nil, message: "\(identity): expected KEY=VALUE, got \"\(word)\"") }
            let key = String(word[..<equals]), value = ConfigValue.word(String(word[word.index(after: equals)...]))
            do throws(ConfigError) {
                switch key {
                case "quota": quota = try value.byteCount()
                case "rate-bytes": rateBytes = try value.byteCount()
                case "rate-ops": rateOps = try value.integer(in: 0...Int(Int32.max))
                case "max-conns-per-client": maxConnsPerClient = try value.integer(in: 1...GatewayConfig.maxConnsLimit)
                case "max-fids-per-client": maxFidsPerClient = try value.integer(in: 1...Int(Int32.max))
                case "max-requests-per-client": maxRequestsPerClient = try value.integer(in: 1...Int(Int32.max))
                case "max-fids": maxFids = try value.integer(in: 1...Int(Int32.max))
                case "max-inflight": maxInFlight = try value.integer(in: 1...60_000)
                case "blue": blue = try value.onOff()
                case "max-msize": maxMsize = UInt32(try value.integer(in: GatewayConfig.msizeRange))
                default: throw ConfigError(key: nil, message: "unknown key (\(Self.keys.joined(separator: ", ")))")
                }
            } catch {
                throw ConfigError(key: nil, message: "\(identity) \(key): \(error.message)")
            }
        }
    }

    /// The key prefixes of identities (`ClientIdentity.Source`, and addresses).
    static let sources: Set<String> = ["uri", "dns", "cn", "token", "addr"]
}

extension GatewayConfig {
    /// Rate accounts per session and identity, at the default rates or an identity's own (nil:
    /// no rate anywhere).
    var sharedRates: SharedRates? {
        func perSecond(_ value: Int?) -> Double? { value.flatMap { $0 == 0 ? nil : Double($0) } }
        let defaults = SharedRates.Rates(opsPerSecond: perSecond(rateOps), bytesPerSecond: perSecond(rateBytes))
        var overrides: [String: SharedRates.Rates] = [:]
        for budget in clientBudgets where budget.rateOps != nil || budget.rateBytes != nil {
            overrides[budget.identity] = .init(opsPerSecond: budget.rateOps.map { perSecond($0) } ?? defaults.opsPerSecond,
                                               bytesPerSecond: budget.rateBytes.map { perSecond($0) } ?? defaults.bytesPerSecond)
        }
        guard defaults != .init() || !overrides.isEmpty else { return nil }
        return SharedRates(defaults, overrides: overrides, burstSeconds: burstSeconds)
    }

    /// Sessions per client (`max-conns-per-client`; nil: no limit anywhere).
    var connectionCounts: KeyedLedgers? { perClient(maxConnsPerClient, \.maxConnsPerClient) }
    /// Fids per identity (`max-fids-per-client`; nil: no limit anywhere).
    var fidLedgers: KeyedLedgers? { perClient(maxFidsPerClient, \.maxFidsPerClient) }
    /// Requests taken and not answered per identity (`max-requests-per-client`; nil: no limit anywhere).
    var requestLedgers: KeyedLedgers? { perClient(maxRequestsPerClient, \.maxRequestsPerClient) }

    /// Ledgers of a per-client count: `limit` (0: none) unless an identity has its own.
    private func perClient(_ limit: Int, _ override: KeyPath<ClientBudget, Int?>) -> KeyedLedgers? {
        let overrides = clientBudgets.reduce(into: [String: Int]()) { $0[$1.identity] = $1[keyPath: override] }
        guard limit > 0 || !overrides.isEmpty else { return nil }
        return KeyedLedgers(limit: limit == 0 ? .max : limit, overrides: overrides)
    }

    /// The per-session limits every session starts with.
    var sessionLimits: ProxySession.Limits {
        ProxySession.Limits(maxMsize: maxMsize, maxFids: maxFids, maxInFlight: maxInFlight,
                            maxReplyBytes: queueLimit, maxHeldBytes: queueLimit, bridgeMsize: bridgeMsize)
    }

    /// The per-session limits of the identities that have their own (`client-budget`).
    var clientLimits: [String: ProxySession.Limits] {
        var result: [String: ProxySession.Limits] = [:]
        for budget in clientBudgets where budget.maxFids != nil || budget.maxInFlight != nil || budget.maxMsize != nil {
            var limits = sessionLimits
            if let value = budget.maxFids { limits.maxFids = value }
            if let value = budget.maxInFlight { limits.maxInFlight = value }
            if let value = budget.maxMsize { limits.maxMsize = value }
            result[budget.identity] = limits
        }
        return result
    }

    /// Read-ahead's settings (nil: off).
    var readAheadSettings: ProxySession.ReadAheadSettings? {
        readAhead ? ProxySession.ReadAheadSettings(maxBytes: readAheadMax, never: PathGlobRule(globs: noReadAhead)) : nil
    }

    /// Blue writes for everyone (nil: off), and for the identities that have their own setting.
    var blueSettings: ProxySession.BlueSettings? { blue ? blueOn : nil }
    var clientBlue: [String: ProxySession.BlueSettings?] {
        clientBudgets.reduce(into: [:]) { result, budget in
            if let on = budget.blue { result[budget.identity] = on ? blueOn : .some(nil) }
        }
    }
    private var blueOn: ProxySession.BlueSettings {
        ProxySession.BlueSettings(maxPerFid: blueMax, writeThrough: PathGlobRule(globs: writeThrough), spillDirectory: blueDir,
                                  memoryPerFid: blueMemory)
    }

    /// Bytes held per identity (`quota`), which `max-memory` also sums (nil: neither is set).
    var byteLedgers: KeyedLedgers? {
        let overrides = clientBudgets.reduce(into: [String: Int]()) { $0[$1.identity] = $1.quota.map { $0 == 0 ? .max : $0 } }
        guard quota > 0 || maxMemory > 0 || !overrides.isEmpty else { return nil }
        return KeyedLedgers(limit: quota == 0 ? .max : quota, overrides: overrides)
    }
}
