import Foundation
import NineP
import Testing

extension Interop {
    /// `--metrics`: Prometheus text from the gateway, read by the reference parser.
    @Suite struct Metrics {
        static func scrape(_ port: UInt16) throws -> [String: Double] {
            let result = try runPythonScenario("metrics_scrape.py", ["http://127.0.0.1:\(port)/metrics"], timeout: 30)
            try #require(result.status == 0, "scrape failed: \(result.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
            return try #require(object as? [String: Double], "\(result.stdout)")
        }

        @Test("/metrics parses with prometheus_client's parser; sessions, fids, requests, error replies by errno and the server's by request type, and budget refusals are counted, and fids and sessions are back at zero when the clients leave")
        func counts() throws {
            let port = freePort()
            let fixture = try DiodBehindGateway("metrics", extra: ["--metrics", "127.0.0.1:\(port)", "--max-fids", "5"])
            defer { fixture.stop() }
            let log = fixture.gateway.process
            #expect(waitFor(5) { logLines(log, "session closed").count == 1 }, "the start-up probe's session")
            var clients = try (0..<3).map { _ in try fixture.attachedClient() }
            for client in clients {
                for newfid in UInt32(2)...6 { _ = try client.rpc(.walk(Twalk(fid: 1, newfid: newfid, wnames: [])), tag: 3) }
            }
            // One error from diod (ENOENT), beside the gateway's three EDQUOTs.
            #expect(try clients[0].rpc(.walk(Twalk(fid: 1, newfid: 1, wnames: ["missing"])), tag: 4) == .lerror(Rlerror(ecode: 2)))
            let busy = try Self.scrape(port)
            #expect(busy["pebble9p_error_replies_total{errno=122}"] == 3 && busy["pebble9p_error_replies_total{errno=2}"] == 1, "\(busy)")
            #expect(busy["pebble9p_sessions_open"] == 3 && busy["pebble9p_sessions_total"] == 4, "\(busy)")
            #expect(busy["pebble9p_fids_active"] == 15, "3 clients × (attach + 4 clones): \(busy)")
            #expect(busy["pebble9p_budget_exceeded_events_total{budget=fids}"] == 3, "one clone past --max-fids 5 each: \(busy)")
            #expect(busy["pebble9p_requests_total{type=Twalk}"] == 16 && busy["pebble9p_requests_total{type=Tattach}"] == 3, "\(busy)")
            #expect(busy["pebble9p_server_error_replies_total{type=Twalk}"] == 1 && busy["pebble9p_server_error_replies_total{type=Tattach}"] == nil,
                    "diod's one error, by request type: \(busy)")
            #expect((busy["pebble9p_bytes_in_total"] ?? 0) > 0 && (busy["pebble9p_bytes_out_total"] ?? 0) > 0)

            clients.removeAll()
            #expect(waitFor(10) { logLines(log, "session closed").count == 4 })
            let idle = try Self.scrape(port)
            #expect(idle["pebble9p_sessions_open"] == 0 && idle["pebble9p_fids_active"] == 0, "\(idle)")

            let missing = try runCommand("/usr/bin/env", ["python3", "-c",
                "import urllib.request,sys\ntry:\n urllib.request.urlopen('http://127.0.0.1:\(port)/other', timeout=5)\nexcept Exception as e:\n print(getattr(e, 'code', e))"])
            #expect(missing.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "404")
        }

        @Test("/sessions lists each live session (peer, identity, dialect, fids) and `pebble9p sessions` prints it as a table")
        func sessions() throws {
            let port = freePort()
            let fixture = try DiodBehindGateway("sessions", extra: ["--metrics", "127.0.0.1:\(port)"])
            defer { fixture.stop() }
            let log = fixture.gateway.process
            #expect(waitFor(5) { logLines(log, "session closed").count == 1 }, "the start-up probe's session")
            let clients = try (0..<2).map { _ in try fixture.attachedClient() }
            _ = try clients[0].rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [])), tag: 2)
            let table = { try runCommand(Paths.gateway, ["sessions", "--metrics", "127.0.0.1:\(port)"], timeout: 30) }
            // Summaries are published when a session starts and about once a second after.
            let row = { (text: String, client: RawClient) in text.split(separator: "\n").first { $0.contains(client.localAddress) } }
            let settled = { (text: String) -> Bool in
                clients.allSatisfy { row(text, $0)?.contains("9P2000.L") == true } && row(text, clients[0])?.contains(" 2 ") == true
            }
            #expect(waitFor(5) { (try? table()).map { settled($0.stdout) } ?? false }, "\((try? table().stdout) ?? "")")
            let printed = try table()
            #expect(printed.status == 0 && printed.stdout.hasPrefix("SESSION") && printed.stdout.split(separator: "\n").count == 3,
                    "\(printed.stdout) \(printed.stderr)")
            for client in clients {
                #expect(row(printed.stdout, client)?.contains("peer:\(client.localAddress)") == true, "\(printed.stdout)")
            }
            let unreachable = try runCommand(Paths.gateway, ["sessions", "--metrics", "127.0.0.1:\(freePort())"], timeout: 30)
            #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot connect"))
        }
    }
}
