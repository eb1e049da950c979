import Testing
import NineP

/// The gateway rewrites fids from `MessageInfo.fidLayout` without decoding; the decoded structs
/// say where the fids really are. These must agree for every request.
@Suite("Fid layout table")
struct FidLayoutTests {
    @Test("locateFids finds the decoded fids, by name, in order", arguments: Dialect.allCases)
    func layoutMatchesDecoder(dialect: Dialect) throws {
        for message in Samples.requests(dialect) {
            let bytes = Frame(tag: 1, message: message).encode(dialect: dialect)
            let decoded = try Frame<TMessage>.decode(bytes, dialect: dialect).message
            let located = try bytes.withUnsafeBytes { raw in
                try message.type.info.locateFids(in: raw).map { location in
                    (name: location.name, value: FramePatch.u32(at: location.offset, in: raw))
                }
            }
            #expect(located.map(\.name) == decoded.fids.map(\.name), "\(message.type) in \(dialect)")
            #expect(located.map(\.value) == decoded.fids.map(\.value), "\(message.type) in \(dialect)")
        }
    }

    @Test("replies and fid-less requests have no fid layout")
    func noFidsWhereNoneAre() {
        for type in MessageType.allCases where !type.isRequest {
            #expect(type.info.fidLayout.isEmpty, "\(type)")
        }
        #expect(MessageType.Tversion.info.fidLayout.isEmpty)
        #expect(MessageType.Tflush.info.fidLayout.isEmpty)
    }

    @Test("fid rewriting in place changes exactly the decoded fid")
    func patchInPlace() throws {
        let message = TMessage.renameat(Trenameat(olddirfid: 1, oldname: "from", newdirfid: 2, newname: "to"))
        var bytes = Frame(tag: 1, message: message).encode(dialect: .linux)
        try bytes.withUnsafeMutableBytes { raw in
            for location in try MessageType.Trenameat.info.locateFids(in: UnsafeRawBufferPointer(raw)) {
                FramePatch.setU32(location.name == "olddirfid" ? 100 : 200, at: location.offset, in: raw)
            }
        }
        let patched = try Frame<TMessage>.decode(bytes, dialect: .linux).message
        #expect(patched == .renameat(Trenameat(olddirfid: 100, oldname: "from", newdirfid: 200, newname: "to")))
    }
}
