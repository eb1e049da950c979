import Foundation
import NineP
import Pebble
import Synchronization

/// One number every loop may add to (a relaxed atomic: a few nanoseconds).
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)

    func add(_ amount: Int) { atomic.add(amount, ordering: .relaxed) }
    func subtract(_ amount: Int) { atomic.subtract(amount, ordering: .relaxed) }
    var value: Int { atomic.load(ordering: .relaxed) }
}

/// The gateway's counters and gauges, process-wide: every loop adds to them with relaxed atomic
/// operations (a few nanoseconds each), and `/metrics` reads them in Prometheus's text format.
///
/// Written here rather than with swift-metrics and swift-prometheus: the set is small and fixed,
/// the format is a few lines of text, and CI rebuilds every dependency on every run.
final class GatewayMetrics: Sendable {
    let sessionsOpen = Counter()
    let sessionsTotal = Counter()
    let fidsActive = Counter()
    let bytesIn = Counter()
    let bytesOut = Counter()
    /// Rread data moved server socket → pipe → client socket (zero copy, the plan's
    /// `bytes_read_zero_copy`), Rread data that passed through the gateway's buffers
    /// (`bytes_read_copied`), and the same for Twrite data the other way.
    let bytesReadZeroCopy = Counter()
    let bytesReadCopied = Counter()
    let bytesWrittenZeroCopy = Counter()
    let bytesWrittenCopied = Counter()
    /// How long the server took to answer client requests (`LatencyHistogram`).
    let replyLatency = LatencyHistogram()
    /// The byte ledgers of `--quota` and `--max-memory` (nil: neither is set).
    let byteLedgers: KeyedLedgers?
    let gatewayErrors = Counter()
    let handshakeFailures = Counter()
    let capabilityValidations = Counter()
    let capabilityRejections = Counter()
    /// Requests by 9P message type (the type byte), and those the server answered with an error.
    private let requests: [Counter] = (0..<256).map { _ in Counter() }
    private let serverErrors: [Counter] = (0..<256).map { _ in Counter() }
    /// Error replies to clients (the server's and the gateway's) by errno: 0–255, then one for any
    /// other number, one for a 9P2000 Rerror, which carries text only.
    private let errorReplies: [Counter] = (0..<258).map { _ in Counter() }
    /// Audit events by kind, and budget refusals by budget.
    private let events: [Counter] = AuditEvent.Kind.allCases.map { _ in Counter() }
    private let budgets: [Counter] = AuditEvent.Budget.allCases.map { _ in Counter() }
    /// Microseconds requests waited for the rate limits.
    let rateDelayMicroseconds = Counter()
    /// Blue: writes held until commit (the plan's speculative operations), commits that
    /// succeeded and failed, rollbacks, fids that fell back to writing through.
    let speculativeOperations = Counter()
    let blueCommits = Counter()
    let blueCommitFailures = Counter()
    let blueRollbacks = Counter()
    let blueWriteThrough = Counter()
    let blueAtomicReplaces = Counter()
    let blueStaleTemporaries = Counter()
    let blueSpills = Counter()
    /// Bytes Blue fids hold now, and requests waiting for their commit (a gauge).
    let blueBytesHeld = Counter()

    init(byteLedgers: KeyedLedgers? = nil) { self.byteLedgers = byteLedgers }

    func request(_ type: UInt8) { requests[Int(type)].add(1) }
    func serverError(_ type: UInt8) { serverErrors[Int(type)].add(1) }

    /// Counts an error reply: its errno, or nil for a 9P2000 Rerror.
    func errorReply(errno: UInt32?) {
        guard let errno else { return errorReplies[257].add(1) }
        errorReplies[errno < 256 ? Int(errno) : 256].add(1)
    }

    func event(_ event: AuditEvent) {
        if let index = AuditEvent.Kind.allCases.firstIndex(of: event.kind) { events[index].add(1) }
        if let budget = event.budget, let index = AuditEvent.Budget.allCases.firstIndex(of: budget) { budgets[index].add(1) }
    }

    /// The Prometheus text exposition (version 0.0.4).
    func exposition() -> String {
        var out = ""
        func metric(_ name: String, _ kind: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP pebble9p_\(name) \(help)\n# TYPE pebble9p_\(name) \(kind)\n"
            for sample in samples { out += "pebble9p_\(name)\(sample.labels) \(sample.value)\n" }
        }
        func load(_ counter: Counter) -> String { "\(counter.value)" }
        metric("sessions_open", "gauge", "Client sessions open now.", [("", load(sessionsOpen))])
        metric("sessions_total", "counter", "Client sessions since start.", [("", load(sessionsTotal))])
        metric("fids_active", "gauge", "Backend fids the gateway holds for its sessions.", [("", load(fidsActive))])
        metric("bytes_in_total", "counter", "Bytes of 9P frames from clients.", [("", load(bytesIn))])
        metric("bytes_out_total", "counter", "Bytes of 9P frames to clients.", [("", load(bytesOut))])
        metric("bytes_read_zero_copy_total", "counter", "Rread data spliced from the server's socket to the client's, never copied into the gateway.",
               [("", load(bytesReadZeroCopy))])
        metric("bytes_read_copied_total", "counter", "Rread data that passed through the gateway's buffers.", [("", load(bytesReadCopied))])
        metric("bytes_written_zero_copy_total", "counter", "Twrite data spliced from the client's socket to the server's.",
               [("", load(bytesWrittenZeroCopy))])
        metric("bytes_written_copied_total", "counter", "Twrite data sent to the server from the gateway's buffers (the client's, and its own: pieces, Blue commits).",
               [("", load(bytesWrittenCopied))])
        metric("bytes_held", "gauge", "Bytes the gateway holds for clients against their quotas: requests, the replies they may bring, buffers.",
               [("", "\(byteLedgers?.total ?? 0)")])
        func byType(_ counters: [Counter]) -> [(String, String)] {
            MessageType.allCases.filter(\.isRequest).compactMap { type in
                let count = counters[Int(type.rawValue)].value
                return count == 0 ? nil : ("{type=\"\(type)\"}", "\(count)")
            }
        }
        metric("requests_total", "counter", "Client requests, by type.", byType(requests))
        metric("server_error_replies_total", "counter", "Client requests the server answered with an error, by request type.", byType(serverErrors))
        let byErrno = errorReplies.enumerated().compactMap { index, counter -> (String, String)? in
            let count = counter.value
            guard count > 0 else { return nil }
            let label = index < 256 ? "\(index)" : index == 256 ? "other" : "none"
            return ("{errno=\"\(label)\"}", "\(count)")
        }
        metric("error_replies_total", "counter", "Error replies to clients, the server's and the gateway's, by errno (none: a 9P2000 Rerror).", byErrno)
        metric("gateway_errors_total", "counter", "Requests the gateway answered with an error itself.", [("", load(gatewayErrors))])
        metric("handshake_failures_total", "counter", "TLS handshakes that failed.", [("", load(handshakeFailures))])
        metric("capability_validations_total", "counter", "Capability tokens checked at attach, by result.",
               [("{result=\"accepted\"}", load(capabilityValidations)), ("{result=\"rejected\"}", load(capabilityRejections))])
        let byKind = AuditEvent.Kind.allCases.enumerated().map { index, kind in
            ("{event=\"\(kind.rawValue)\"}", "\(events[index].value)")
        }
        metric("audit_events_total", "counter", "Security events, by kind.", byKind)
        metric("budget_exceeded_events_total", "counter", "Requests or sessions refused for a budget, by budget.",
               AuditEvent.Budget.allCases.enumerated().map { index, budget in ("{budget=\"\(budget.rawValue)\"}", "\(budgets[index].value)") })
        metric("rate_limit_delay_seconds_total", "counter", "Time requests waited for the rate limits.",
               [("", String(format: "%.6f", Double(rateDelayMicroseconds.value) / 1e6))])
        out += replyLatency.exposition(name: "pebble9p_backend_reply_seconds", help: "Time from a client request's send to the server until its reply.")
        metric("speculative_operations_total", "counter", "Writes held by the gateway until commit (Blue).", [("", load(speculativeOperations))])
        metric("blue_commits_total", "counter", "Commits of held writes, by result.",
               [("{result=\"ok\"}", load(blueCommits)), ("{result=\"failed\"}", load(blueCommitFailures))])
        metric("blue_bytes_held", "gauge", "Bytes of writes held by Blue fids, and of requests waiting for their commit.", [("", load(blueBytesHeld))])
        metric("blue_rollbacks_total", "counter", "Fids whose held writes were dropped (client gone, reset, file removed).", [("", load(blueRollbacks))])
        metric("blue_write_through_total", "counter", "Fids that held more than blue-max (or the quota) and wrote through from then on.",
               [("", load(blueWriteThrough))])
        metric("blue_atomic_replaces_total", "counter", "Commits that wrote a hidden temporary and renamed it over the file.",
               [("", load(blueAtomicReplaces))])
        metric("blue_stale_temporaries_removed_total", "counter", "Temporaries a crash left behind, removed by a later commit in their directory.",
               [("", load(blueStaleTemporaries))])
        metric("blue_spills_total", "counter", "Fids whose held bytes passed blue-memory and went on to a spill file in blue-dir.",
               [("", load(blueSpills))])
        return out
    }
}
