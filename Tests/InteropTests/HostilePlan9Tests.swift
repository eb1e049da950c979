import Foundation
import NineP
import TestSupport
import Testing

extension Interop.HostileInput {
    /// Mutated 9P2000 and 9P2000.u frames through the gateway in front of the py9p server, with
    /// Blue on: the paths only these dialects take (OTRUNC held, the Tcreate/Twstat replace, stats
    /// read from a directory with the temporaries taken out) meet malformed input too.
    @Test("3000 mutated 9P2000.u and 9P2000 frames (Topen OTRUNC, Tcreate, Twstat renames and lengths, directory reads, clunks that commit) in front of the py9p server: the gateway survives and a bystander is unaffected",
          arguments: [true, false])
    func mutatedPlan9Frames(unix: Bool) throws {
        let root = try makeTemporaryDirectory("hostile-py9p")
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("still here\n".utf8).write(to: root.appendingPathComponent("file.txt"))
        try Data(repeating: 0x61, count: 3000).write(to: root.appendingPathComponent("target.txt"))
        let server = try Interop.PythonClients.Py9pServer(root: root, unix: unix)
        let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(server.port)", extra: ["--blue", "on"])
        defer { gateway.stop() }
        let dialect: Dialect = unix ? .unix : .plan9

        func attached() throws -> RawClient {
            let client = try RawClient(port: gateway.port, dialect: dialect)
            _ = try client.negotiate(msize: 8192)
            guard case .attach = try client.attach(aname: "") else { throw MissingTool(description: "attach failed") }
            return client
        }
        func checkBystander(_ client: RawClient) throws {
            try Self.checkStillHere(client, open: .open(Topen(fid: 2, mode: 0)), gateway: gateway)
        }

        let bystander = try attached()
        var rename = Stat.unchanged()
        rename.name = "renamed.txt"
        let seeds: [TMessage] = [
            .walk(Twalk(fid: 1, newfid: 2, wnames: ["target.txt"])),
            .walk(Twalk(fid: 1, newfid: 3, wnames: [])),
            .open(Topen(fid: 2, mode: 0x11)),  // OWRITE | OTRUNC: held
            .write(Twrite(fid: 2, offset: 0, data: Array(repeating: 0x62, count: 2000))),
            .read(Tread(fid: 2, offset: 0, count: 100)),
            .stat(Tstat(fid: 2)),
            .wstat(Twstat(fid: 2, stat: .unchanged(length: 10))),
            .wstat(Twstat(fid: 2, stat: .unchanged())),
            .open(Topen(fid: 3, mode: 0)),
            .read(Tread(fid: 3, offset: 0, count: 4096)),
            .create(Tcreate(fid: 3, name: "new.txt", perm: 0o644, mode: 1)),
            .write(Twrite(fid: 3, offset: 0, data: Array("made".utf8))),
            .wstat(Twstat(fid: 2, stat: rename)),
            .clunk(Tclunk(fid: 2)),
            .remove(Tremove(fid: 3)),
            .flush(Tflush(oldtag: 3)),
            .clunk(Tclunk(fid: 3)),
        ]
        let seed = testSeed("mutated 9P2000\(unix ? ".u" : "") frames")
        var generator = SplitMix64(seed: seed)
        // py9p answers one request at a time: small bursts keep the test's time bounded.
        let client = try Self.sendMutated(seeds, dialect: dialect, burstBytes: 1024, generator: &generator,
                                          ping: .stat(Tstat(fid: 1)), newClient: attached)
        let peer = "peer=\(client.localAddress)"
        shutdown(client.fd, Int32(SHUT_RDWR))
        #expect(waitFor(30) { !logLines(gateway.process, "session closed", peer).isEmpty }, "seed \(seed): the last session never closed")
        #expect(gateway.process.process.isRunning, "seed \(seed): gateway died:\n\(gateway.process.log.suffix(3000))")
        // The frames reached the gateway (a session closed early would leave the rest unread).
        let handled = handledRequests(gateway, excluding: bystander)
        #expect(handled >= 1500, "seed \(seed): the hostile sessions handled only \(handled) requests")
        // py9p is single-threaded Python: a mutated frame may kill it (its bugs, not the
        // gateway's); the bystander's check needs it alive, and says so when it is not.
        guard server.process.process.isRunning else {
            Issue.record("seed \(seed): the py9p server died:\n\(server.process.log.suffix(2000))"); return
        }
        try checkBystander(bystander)
        try checkBystander(try attached())
        #expect(gateway.process.process.isRunning, "seed \(seed): gateway died:\n\(gateway.process.log.suffix(3000))")
    }
}
