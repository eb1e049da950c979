import Foundation
import Synchronization

/// A Prometheus histogram of durations that every loop may add to: one relaxed atomic per bucket,
/// the sum in microseconds, the count. Buckets are counted apart and made cumulative when read.
final class LatencyHistogram: Sendable {
    /// Upper bounds in seconds: 100 µs (a loopback getattr) to 10 s (a server stuck on a disk).
    static let bounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// One per bound, and one past the last (+Inf).
    private let buckets: [Counter] = (0...LatencyHistogram.bounds.count).map { _ in Counter() }
    private let sumMicroseconds = Counter()

    func observe(_ seconds: Double) {
        let index = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
        buckets[index].add(1)
        sumMicroseconds.add(Int(max(0, seconds) * 1e6))
    }

    /// The `_bucket`, `_sum` and `_count` lines of text exposition format 0.0.4.
    func exposition(name: String, help: String) -> String {
        var out = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative = 0
        for (index, bound) in Self.bounds.enumerated() {
            cumulative += buckets[index].value
            out += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += buckets[Self.bounds.count].value
        out += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n"
        out += "\(name)_sum \(String(format: "%.6f", Double(sumMicroseconds.value) / 1e6))\n"
        out += "\(name)_count \(cumulative)\n"
        return out
    }
}
