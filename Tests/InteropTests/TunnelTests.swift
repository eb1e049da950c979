import Foundation
import Testing

extension Interop {
    /// `pebble9p tunnel`: clients without TLS (diod's tools, p9fs) reach a TLS gateway through it.
    @Suite struct Tunnel {
        /// The TLS gateway of `TLS.Setup` (client certificates required) and a tunnel in front of it.
        final class Setup {
            let tls: TLS.Setup
            let port: UInt16
            let tunnel: TestProcess

            /// `flags` replace the tunnel's TLS flags (default: the dev CA, and alice's certificate);
            /// `gateway` is `TLS.Setup`'s made by the caller (default: client certificates required).
            init(_ label: String, gateway: TLS.Setup? = nil, flags: ((TLS.Certificates) -> [String])? = nil) throws {
                tls = try gateway ?? TLS.Setup(label)
                port = freePort()
                let certificates = tls.certificates
                let tlsFlags = flags?(certificates) ?? ["--ca", certificates.path("ca.pem"), "--cert", certificates.path("alice.pem"),
                                                        "--key", certificates.path("alice.key")]
                tunnel = try TestProcess(name: "pebble9p-tunnel", executable: Paths.gateway, arguments: [
                    "tunnel", "--listen", "127.0.0.1:\(port)", "--connect", "127.0.0.1:\(tls.tlsPort)", "--server-name", "localhost",
                    "--log-level", "debug",
                ] + tlsFlags)
                try waitForPort(port, process: tunnel)
            }

            var address: String { "127.0.0.1:\(port)" }
            var directory: URL { tls.fixture.directory }

            func stop() {
                tunnel.stop()
                tls.stop()
            }
        }

        @Test("diodcat reads a 128 MiB file bit-exact through tunnel → serve (client certificates required) → diod, identified by its certificate")
        func diodcatThroughTunnel() throws {
            let setup = try Setup("tunnel-cat")
            defer { setup.stop() }
            let file = setup.directory.appendingPathComponent("big.bin")
            _ = try runCommand("/bin/sh", ["-c", "head -c 134217728 /dev/urandom > \(file.path)"], timeout: 60)
            let script = "diodcat -s \(setup.address) -a \(setup.directory.path) -m 1048576 big.bin | sha256sum"
            let result = try runCommand("/bin/sh", ["-c", script], timeout: 300)
            #expect(result.stdout.split(separator: " ").first.map(String.init) == (try TLS.sha256(file)), "\(result.stderr)")
            let gateway = setup.tls.fixture.gateway.process
            #expect(waitFor(10) { !logLines(gateway, "session closed", "identity=uri:spiffe://pebble9p.dev/alice", "dialect=9P2000.L").isEmpty },
                    "\(gateway.log.suffix(2000))")
            #expect(waitFor(10) { !logLines(setup.tunnel, "tunnel connection closed", "bytes_down=").isEmpty }, "\(setup.tunnel.log.suffix(2000))")
        }

        @Test("p9fs (9P2000.L) through the tunnel: create, write, read back, rename, list, remove")
        func p9fsThroughTunnel() throws {
            let setup = try Setup("tunnel-p9fs")
            defer { setup.stop() }
            let result = try runPythonScenario("p9fs_scenario.py", ["--port", "\(setup.port)", "--aname", setup.directory.path, "--version", "9P2000.L"])
            #expect(result.status == 0, "p9fs failed: \(result.stderr.suffix(2000))\ntunnel:\n\(setup.tunnel.log.suffix(1500))")
        }

        @Test("the tunnel refuses a gateway whose certificate its CA did not sign, or that names another host; the client's connection is closed",
              arguments: ["other-ca", "wrong-name"])
        func tunnelRefusesGateway(case kind: String) throws {
            let other = try TLS.Certificates()
            let setup = try Setup("tunnel-refuse") { certificates in
                kind == "other-ca"
                    ? ["--ca", other.path("ca.pem"), "--cert", certificates.path("alice.pem"), "--key", certificates.path("alice.key")]
                    : ["--ca", certificates.path("ca.pem"), "--cert", certificates.path("alice.pem"), "--key", certificates.path("alice.key"),
                       "--server-name", "gateway.example.org"]
            }
            defer { setup.stop() }
            let client = try RawClient(port: setup.port)
            #expect((try? client.negotiate()) == nil, "a Tversion got through")
            let reason = kind == "other-ca" ? "certificate verify failed" : "hostname mismatch"
            #expect(waitFor(10) { !logLines(setup.tunnel, "TLS handshake with the gateway failed", reason).isEmpty },
                    "\(setup.tunnel.log.suffix(2000))")
            #expect(setup.tunnel.process.isRunning)
        }
    }
}
