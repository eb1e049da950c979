import Foundation
import NineP
import TestSupport
import Testing

extension Interop.HostileInput {
    /// Mutated frames over TLS: the tunnel relays them byte for byte, so they reach the TLS
    /// gateway's framing (records decrypted and read ahead, frames cut out of them) instead of a
    /// plain socket's.
    @Test("3000 mutated 9P2000.L frames through tunnel → serve (TLS, client certificates) → diod: the tunnel, the gateway and diod survive, and a bystander through the tunnel is unaffected")
    func mutatedFramesOverTLS() throws {
        let setup = try Interop.Tunnel.Setup("hostile-tls")
        defer { setup.stop() }
        let directory = setup.directory
        try Data("still here\n".utf8).write(to: directory.appendingPathComponent("file.txt"))
        try Data(repeating: 0x61, count: 5000).write(to: directory.appendingPathComponent("target.txt"))
        let gateway = setup.tls.fixture.gateway

        func attached() throws -> RawClient {
            let client = try RawClient(port: setup.port)
            _ = try client.negotiate(msize: 65536)
            guard case .attach = try client.attach(aname: directory.path) else { throw MissingTool(description: "attach failed") }
            return client
        }
        func checkBystander(_ client: RawClient) throws {
            try Self.checkStillHere(client, open: .lopen(Tlopen(fid: 2, flags: 0)), gateway: gateway)
        }

        let bystander = try attached()
        let seeds: [TMessage] = [
            .walk(Twalk(fid: 1, newfid: 2, wnames: ["target.txt"])),
            .walk(Twalk(fid: 1, newfid: 3, wnames: [])),
            .lopen(Tlopen(fid: 2, flags: 2)),
            .read(Tread(fid: 2, offset: 0, count: 4000)),
            .write(Twrite(fid: 2, offset: 100, data: Array(repeating: 0x62, count: 3000))),
            .getattr(Tgetattr(fid: 2, requestMask: 0x7ff)),
            .lopen(Tlopen(fid: 3, flags: 0o200000)),
            .readdir(Treaddir(fid: 3, offset: 0, count: 4096)),
            .lcreate(Tlcreate(fid: 3, name: "new", flags: 0o101, mode: 0o644, gid: 0)),
            .setattr(Tsetattr(fid: 2, valid: 8, mode: 0, uid: 0, gid: 0, size: 10, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)),
            .fsync(Tfsync(fid: 2, datasync: 0)),
            .flush(Tflush(oldtag: 3)),
            .clunk(Tclunk(fid: 2)),
            .clunk(Tclunk(fid: 3)),
        ]
        let seed = testSeed("mutated frames over TLS")
        var generator = SplitMix64(seed: seed)
        let client = try Self.sendMutated(seeds, dialect: .linux, burstBytes: 4096, generator: &generator,
                                          ping: .getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), newClient: attached)
        shutdown(client.fd, Int32(SHUT_RDWR))
        #expect(gateway.process.process.isRunning, "seed \(seed): gateway died:\n\(gateway.process.log.suffix(3000))")
        #expect(setup.tunnel.process.isRunning, "seed \(seed): tunnel died:\n\(setup.tunnel.log.suffix(3000))")
        #expect(setup.tls.fixture.diod.process.process.isRunning, "seed \(seed): diod died")
        // Through the tunnel the gateway sees the tunnel's address: every closed session is a
        // hostile one (the bystander's is still open).
        #expect(waitFor(20) { handledRequests(gateway, excluding: bystander) >= 1500 },
                "seed \(seed): the hostile sessions handled only \(handledRequests(gateway, excluding: bystander)) requests")
        try checkBystander(bystander)
        try checkBystander(try attached())
        #expect(gateway.process.process.isRunning, "seed \(seed): gateway died:\n\(gateway.process.log.suffix(3000))")
    }
}
