import ArgumentParser
import Foundation
import Gateway

/// `pebble9p sessions --metrics HOST:PORT`: the live sessions of a gateway (its `/sessions`), as a table.
struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a gateway's live sessions (from its --metrics address).")

    @Option(help: "The gateway's --metrics address, HOST:PORT.")
    var metrics: String

    /// "100 op/s, 20971520 B/s", or "-" without a limit.
    static func rate(_ entry: SessionSummary) -> String {
        let parts = [entry.rateOps.map { "\(Int($0)) op/s" }, entry.rateBytes.map { "\(Int($0)) B/s" }].compactMap { $0 }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    func run() throws {
        let body: String
        do { body = try MetricsClient.get(metrics, path: "/sessions") } catch {
            FileHandle.standardError.write(Data("pebble9p sessions: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let entries = try JSONDecoder().decode([SessionSummary].self, from: Data(body.utf8))
        let header = ["SESSION", "PEER", "IDENTITY", "TOKEN", "DIALECT", "FIDS", "REQUESTS", "BYTES IN", "BYTES OUT", "HELD/QUOTA", "RATE", "AGE"]
        let rows = entries.map { entry in
            ["\(entry.session)", entry.peer, entry.identity, entry.tokenID.map { String($0.prefix(12)) } ?? "-",
             entry.dialect ?? "-", "\(entry.fids)", "\(entry.requests)", "\(entry.bytesIn)", "\(entry.bytesOut)",
             "\(entry.bytesHeld)/\(entry.quota.map(String.init) ?? "-")", Self.rate(entry), "\(Int(entry.seconds))s"]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for row in [header] + rows {
            print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces))
        }
    }
}
