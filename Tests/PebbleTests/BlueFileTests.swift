import Testing
import Pebble
import TestSupport

/// The Blue extent map against a model: the file as a plain array of bytes with every write and
/// resize applied in order.
@Suite("Blue file (extent map)")
struct BlueFileTests {
    /// The model: bytes, zero-filled where a write or an extension leaves a hole.
    struct Model {
        var bytes: [UInt8]
        mutating func write(_ data: [UInt8], at offset: Int) {
            if bytes.count < offset + data.count { bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count) }
            bytes.replaceSubrange(offset..<(offset + data.count), with: data)
        }
        mutating func resize(to size: Int) {
            if size < bytes.count { bytes.removeSubrange(size...) } else { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
        }
    }

    /// What a server's Rread of `count` at `offset` brings from `file`.
    static func serverRead(_ file: [UInt8], at offset: Int, count: Int) -> [UInt8] {
        offset >= file.count ? [] : Array(file[offset..<min(file.count, offset + count)])
    }

    /// `base` with the plan's steps done, as a server would.
    /// Spilled, the bytes come from `spill` (held at the file's offsets).
    static func committed(_ blue: BlueFile, over base: [UInt8], maxWrite: Int, spill: Model? = nil) -> [UInt8] {
        var server = Model(bytes: base)
        for step in blue.commitPlan(maxWrite: maxWrite) {
            switch step {
            case let .resize(size): server.resize(to: Int(size))
            case let .write(extent, start, count, offset):
                #expect(count <= maxWrite)
                let bytes = blue.spilled ? Array(spill!.bytes[Int(offset)..<(Int(offset) + count)]) : Array(blue.extents[extent].bytes[start..<(start + count)])
                server.write(bytes, at: Int(offset))
            }
        }
        return server.bytes
    }

    @Test("a long sequential write is held in extents of extentCap bytes, each reserved once")
    func pieces() {
        var blue = BlueFile(extentCap: 1000)
        for chunk in 0..<25 { [UInt8](repeating: UInt8(chunk), count: 100).withUnsafeBytes { blue.write($0, at: UInt64(chunk * 100)) } }
        #expect(blue.extents.map(\.count) == [1000, 1000, 500] && blue.byteCount == 2500)
        #expect(!blue.needsServer(offset: 900, count: 1200), "touching extents cover the range together")
        #expect(blue.read(at: 990, count: 20, server: UnsafeRawBufferPointer(start: nil, count: 0)) == [UInt8](repeating: 9, count: 10) + [UInt8](repeating: 10, count: 10))
    }

    @Test("sequential writes make one extent; overlapping and disjoint writes merge or stay apart; a resize trims")
    func shapes() {
        var blue = BlueFile()
        for chunk in 0..<4 { [UInt8](repeating: UInt8(chunk), count: 100).withUnsafeBytes { blue.write($0, at: UInt64(chunk * 100)) } }
        #expect(blue.extents.count == 1 && blue.byteCount == 400 && blue.extentsEnd == 400)
        [UInt8](repeating: 9, count: 10).withUnsafeBytes { blue.write($0, at: 1000) }
        #expect(blue.extents.count == 2 && blue.byteCount == 410)
        [UInt8](repeating: 8, count: 700).withUnsafeBytes { blue.write($0, at: 350) }   // bridges both
        #expect(blue.extents.count == 1 && blue.byteCount == 1050 && blue.extentsEnd == 1050)
        blue.resize(to: 500)
        #expect(blue.extents.count == 1 && blue.byteCount == 500 && blue.cut == 500 && blue.length == 500)
        #expect(blue.size(serverSize: 10_000) == 500)
        blue.resize(to: 800)
        #expect(blue.cut == 500 && blue.length == 800 && blue.commitPlan(maxWrite: 1000).last == .resize(800))
        #expect(!blue.needsServer(offset: 10, count: 100) && !blue.needsServer(offset: 600, count: 100))
    }

    @Test("a write whose end passes 2^64 does not fit")
    func bounds() {
        #expect(BlueFile.fits(offset: UInt64.max - 10, count: 10))
        #expect(!BlueFile.fits(offset: UInt64.max - 10, count: 11))
        var blue = BlueFile()
        [UInt8](repeating: 1, count: 4).withUnsafeBytes { blue.write($0, at: UInt64.max - 4) }
        #expect(blue.size(serverSize: 0) == UInt64.max)
        #expect(blue.read(at: UInt64.max - 2, count: 100, server: UnsafeRawBufferPointer(start: nil, count: 0)) == [1, 1])
    }

    @Test("any sequence of writes and resizes: reads through the Blue state (the server's bytes overlaid) and its size match the model, and the commit plan done on the server's file makes the model; also when the state spills (its bytes kept outside, at the file's offsets) after some step", arguments: 0..<200, [false, true])
    func againstModel(seed: Int, spills: Bool) {
        var random = SplitMix64(seed: UInt64(seed) &* 7919 &+ 3)
        let base = (0..<random.below(600)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        var model = Model(bytes: base)
        var blue = BlueFile(extentCap: random.below(2) == 0 ? 1 << 20 : 8 + random.below(200))
        // The spill file: the held bytes at the file's offsets (what `BlueSpill` keeps on disk).
        var spill = Model(bytes: [])
        let spillAfter = spills ? random.below(20) : Int.max
        for step in 0..<(1 + random.below(40)) {
            if step == spillAfter {
                for extent in blue.extents { spill.write(extent.bytes, at: Int(extent.offset)) }
                blue.spill()
                #expect(blue.spilled && blue.extents.allSatisfy(\.bytes.isEmpty))
            }
            switch random.below(10) {
            case 0:
                let size = random.below(800)
                blue.resize(to: UInt64(size))
                model.resize(to: size)
            default:
                let offset = random.below(700), count = 1 + random.below(random.below(4) == 0 ? 300 : 40)
                let data = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                if blue.spilled { spill.write(data, at: offset) }
                data.withUnsafeBytes { blue.write($0, at: UInt64(offset)) }
                model.write(data, at: offset)
            }
            #expect(blue.byteCount == blue.extents.reduce(0) { $0 + $1.count })
            #expect(blue.spilled || blue.extents.allSatisfy { $0.bytes.count == $0.count })
            #expect(zip(blue.extents, blue.extents.dropFirst()).allSatisfy { $0.end <= $1.offset }, "sorted, never overlapping")
            #expect(blue.size(serverSize: UInt64(base.count)) == UInt64(model.bytes.count))
            for _ in 0..<4 {
                let offset = random.below(900), count = random.below(300)
                let server = blue.needsServer(offset: UInt64(offset), count: count) ? Self.serverRead(base, at: offset, count: count) : []
                let read = server.withUnsafeBytes {
                    blue.read(at: UInt64(offset), count: count, server: $0) { from, into in
                        into.copyBytes(from: spill.bytes[Int(from)..<(Int(from) + into.count)])
                    }
                }
                #expect(read == Self.serverRead(model.bytes, at: offset, count: count), "seed \(seed): read \(count) at \(offset)")
            }
        }
        #expect(Self.committed(blue, over: base, maxWrite: 1 + random.below(200), spill: spill) == model.bytes, "seed \(seed)")
    }
}

@Suite("Write-through rule")
struct PathGlobRuleTests {
    @Test("a glob with a / matches the whole path below the attach point, one without matches the name in any directory; * never crosses a /")
    func globs() {
        let rule = PathGlobRule(globs: ["ctl", "/logs/*.log"])
        func path(_ text: String) -> CapabilityPath { CapabilityPath(names: text.split(separator: "/").map(String.init)) }
        #expect(rule.matches(path("/ctl")) && rule.matches(path("/a/b/ctl")) && rule.matches(path("/logs/x.log")))
        #expect(!rule.matches(path("/ctl2")) && !rule.matches(path("/logs/old/x.log")) && !rule.matches(path("/x.log")))
        #expect(!PathGlobRule(globs: []).matches(path("/ctl")))
    }
}
