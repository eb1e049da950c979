import Foundation
import Testing
@testable import Gateway
import NineP
import Pebble
import TestSupport

/// The confinement property: random client walks and operations under a token confined to
/// `/export/sub` never let the server act outside it. The server is a model of a path-based one
/// (as diod is): a fid is a path, a walk lstat()s `fidpath/name`, so the kernel follows every
/// symlink before the last name (and the fid's own, when it is walked from), and `..` goes up.
@Suite("Confinement property")
struct ConfinementPropertyTests {
    /// A path-based server over a small tree with symlinks that lead out of the subtree.
    final class PathServer {
        /// Absolute paths of directories, files and symlinks (→ target).
        var directories: Set<String> = ["/", "/export", "/export/sub", "/export/sub/a", "/export/sub/a/b", "/export/other", "/etc"]
        var files: Set<String> = ["/export/top.txt", "/export/sub/inside.txt", "/export/sub/a/b/deep.txt", "/etc/passwd"]
        let symlinks: [String: String] = ["/export/sub/up": "..", "/export/sub/a/root": "/", "/export/sub/esc": "/export/other",
                                          "/export/sub/a/side": "../inside.txt"]
        /// Backend fid → the path the server holds it by (its last name unresolved).
        var fids: [UInt32: [String]] = [:]
        static let root = ["export", "sub"]
        var violations: [String] = []
        /// Fids attached to the export: the gateway walks from them to the token's path.
        var exportFids: Set<UInt32> = []

        /// `names` with every symlink followed (a symlink's target is relative to its directory).
        func resolve(_ names: [String], depth: Int = 0) -> [String] {
            var resolved: [String] = []
            for name in names {
                if name == ".." {
                    if !resolved.isEmpty { resolved.removeLast() }
                    continue
                }
                resolved.append(name)
                if let target = symlinks["/" + resolved.joined(separator: "/")], depth < 8 {
                    resolved.removeLast()
                    let parts = target.split(separator: "/").map(String.init)
                    resolved = resolve(target.hasPrefix("/") ? parts : resolved + parts, depth: depth + 1)
                }
            }
            return resolved
        }

        /// Where a fid is: every name but the last resolved (lstat's view).
        func location(_ path: [String]) -> [String] {
            guard let last = path.last else { return [] }
            return resolve(Array(path.dropLast())) + [last]
        }

        static func inside(_ path: [String]) -> Bool { path.count >= root.count && Array(path.prefix(root.count)) == root }

        func qid(_ path: [String]) -> Qid? {
            let text = "/" + path.joined(separator: "/")
            let hash = UInt64(truncatingIfNeeded: text.hashValue)
            if symlinks[text] != nil { return Qid(type: Qid.symlink, version: 0, path: hash) }
            if directories.contains(text) { return Qid(type: Qid.directory, version: 0, path: hash) }
            if files.contains(text) { return Qid(type: 0, version: 0, path: hash) }
            return nil
        }

        func check(_ fid: UInt32, follows: Bool, _ what: String) {
            guard let path = fids[fid] else { return violations.append("\(what) on a fid the server does not hold") }
            let at = follows ? resolve(path) : location(path)
            if !Self.inside(at) { violations.append("\(what) acts on /\(at.joined(separator: "/"))") }
        }

        func answer(_ request: TMessage) -> RMessage {
            switch request {
            case let .attach(attach):
                fids[attach.fid] = String(decoding: attach.aname.bytes, as: UTF8.self).split(separator: "/").map(String.init)
                exportFids.insert(attach.fid)
                return .attach(Rattach(qid: qid(fids[attach.fid]!)!))
            case let .walk(walk):
                guard var path = fids[walk.fid] else { return .lerror(Rlerror(ecode: 9)) }
                if !walk.wnames.isEmpty && !exportFids.contains(walk.fid) { check(walk.fid, follows: true, "a walk from a fid") }
                var qids: [Qid] = []
                for name in walk.wnames {
                    // The server lstat()s "fidpath/name": the fid's path is resolved, the name is not.
                    let text = String(decoding: name.bytes, as: UTF8.self)
                    let base = resolve(path)
                    let next = text == ".." ? Array(base.dropLast()) : base + [text]
                    guard let found = qid(next) else { break }
                    path = next
                    qids.append(found)
                }
                if qids.isEmpty && !walk.wnames.isEmpty { return .lerror(Rlerror(ecode: 2)) }
                if qids.count == walk.wnames.count { fids[walk.newfid] = path }
                return .walk(Rwalk(wqids: qids))
            case let .clunk(clunk):
                fids[clunk.fid] = nil
                exportFids.remove(clunk.fid)
                return .clunk(Rclunk())
            case let .lopen(open):
                check(open.fid, follows: true, "Tlopen")
                return .lopen(Rlopen(qid: qid(resolve(fids[open.fid] ?? [])) ?? Qid(type: 0, version: 0, path: 0), iounit: 0))
            case let .lcreate(create):
                check(create.fid, follows: true, "Tlcreate")
                let path = resolve(fids[create.fid] ?? []) + [String(decoding: create.name.bytes, as: UTF8.self)]
                files.insert("/" + path.joined(separator: "/"))
                fids[create.fid] = path
                return .lcreate(Rlcreate(qid: qid(path)!, iounit: 0))
            case let .readdir(readdir):
                check(readdir.fid, follows: true, "Treaddir")
                return .readdir(Rreaddir(data: []))
            case let .getattr(getattr):
                check(getattr.fid, follows: false, "Tgetattr")
                return .getattr(SessionHarness.sampleGetattr)
            case let .readlink(readlink):
                check(readlink.fid, follows: false, "Treadlink")
                return .readlink(Rreadlink(target: "x"))
            default:
                return .lerror(Rlerror(ecode: 95))
            }
        }
    }

    static let names: [WireString] = ["a", "b", "..", ".", "up", "root", "esc", "side", "sub", "other", "etc", "x/y",
                                      "missing", "inside.txt", "deep.txt", "passwd", "top.txt"]

    @Test("200 random sessions of 60 random walks and operations: the server never acts outside the token's path")
    func randomSessions() throws {
        let seed = testSeed("confinement")
        var random = SplitMix64(seed: seed)
        let keys: TokenKeys = {
            var keys = TokenKeys()
            _ = keys.generate(keyID: "k")
            return keys
        }()
        let token = try CapabilityToken.mint(key: keys.keys["k"]!, keyID: "k", caveats: [.path("/sub")]).text
        for round in 0..<200 {
            let server = PathServer()
            let access = ProxySession.Access(tokens: .init(verifier: TokenVerifier(keys: keys), required: true), backendAname: "/export")
            let harness = SessionHarness(access: access)
            try harness.negotiate()
            func pump() throws {
                for _ in 0..<8 {
                    let sent = try harness.backendReceived()
                    if sent.isEmpty { return }
                    for frame in sent { harness.backendSends(tag: frame.tag, server.answer(frame.message)) }
                }
            }
            harness.clientSends(tag: 1, .attach(Tattach(fid: 0, afid: NineP.noFid, uname: "u", aname: WireString(token), nUname: 0)))
            try pump()
            _ = try harness.clientReceived()
            var trail: [String] = []
            for step in 0..<60 {
                let held = harness.session.fids.clientFids.keys.sorted()
                guard let fid = held.isEmpty ? nil : held[random.below(held.count)] else { break }
                let newfid = UInt32(1 + random.below(12))
                let message: TMessage
                switch random.below(10) {
                case 0...4:
                    let names = (0..<random.below(5)).map { _ in Self.names[random.below(Self.names.count)] }
                    message = .walk(Twalk(fid: fid, newfid: random.below(4) == 0 ? fid : newfid, wnames: names))
                case 5: message = .lopen(Tlopen(fid: fid, flags: UInt32(random.below(3))))
                case 6: message = .lcreate(Tlcreate(fid: fid, name: Self.names[random.below(Self.names.count)], flags: 1, mode: 0o644, gid: 0))
                case 7: message = .readdir(Treaddir(fid: fid, offset: 0, count: 512))
                case 8: message = random.below(2) == 0 ? .getattr(Tgetattr(fid: fid, requestMask: 0x7ff)) : .readlink(Treadlink(fid: fid))
                default: message = .clunk(Tclunk(fid: fid))
                }
                trail.append("\(message)")
                harness.clientSends(tag: UInt16(2 + step), message)
                try pump()
                _ = try harness.clientReceived()
                // Every fid the client holds is one the server holds inside the subtree.
                for (clientFid, record) in harness.session.fids.clientFids where record.state == .ready {
                    guard let path = server.fids[record.backendFid] else { continue }
                    if !PathServer.inside(server.location(path)) {
                        server.violations.append("client fid \(clientFid) is /\(server.location(path).joined(separator: "/"))")
                    }
                }
                if !server.violations.isEmpty { break }
            }
            #expect(server.violations.isEmpty,
                    "round \(round), seed \(seed): \(server.violations)\nrequests:\n\(trail.joined(separator: "\n"))")
            if !server.violations.isEmpty { return }
        }
    }
}
