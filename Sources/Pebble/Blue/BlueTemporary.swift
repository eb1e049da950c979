import NineP

/// The hidden temporary sibling an atomic replace writes before it renames it over the target:
/// `.pebble9p-<16 hex digits>.tmp`. Walks and directory reads through the gateway never show
/// such a name, and a commit removes the ones a crash left behind.
public enum BlueTemporary {
    public static let prefix = ".pebble9p-"
    public static let suffix = ".tmp"
    /// Temporaries not written to for this long are a crash's leftovers (a commit under way
    /// writes to its own all the time).
    public static let staleAfterSeconds: UInt64 = 60

    /// The name for a temporary, from a random number.
    public static func name(_ random: UInt64) -> String {
        let hex = String(random, radix: 16)
        return prefix + String(repeating: "0", count: 16 - hex.count) + hex + suffix
    }

    /// Whether `name` is one of the gateway's temporaries (by its form).
    public static func isTemporary(_ name: [UInt8]) -> Bool {
        let (head, tail) = (prefix.utf8.count, suffix.utf8.count)
        guard name.count == head + 16 + tail, name.starts(with: prefix.utf8), name[(head + 16)...].elementsEqual(suffix.utf8)
        else { return false }
        return name[head..<(head + 16)].allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

extension BlueTemporary {
    /// An Rreaddir's data without the temporaries' entries: nil when it has none (the reply goes
    /// as it came), else the entries kept and the offset after the last one left out (where a
    /// read continues when none is kept: an empty reply would say the directory ended).
    public static func hiding(in data: UnsafeRawBufferPointer) -> (kept: [UInt8], resumeAt: UInt64)? {
        guard mayHold(data), let entries = try? Dirent.decodeAll(data), entries.contains(where: { isTemporary($0.name.bytes) })
        else { return nil }
        let kept = entries.filter { !isTemporary($0.name.bytes) }
        return (Dirent.encodeAll(kept), entries.last { isTemporary($0.name.bytes) }?.offset ?? 0)
    }

    /// Whether some entry's name has a temporary's length and first byte (a scan that decodes
    /// nothing, so a listing without temporaries costs next to nothing).
    static func mayHold(_ data: UnsafeRawBufferPointer) -> Bool {
        let length = prefix.utf8.count + 16 + suffix.utf8.count
        var at = 0
        while at + 24 <= data.count {
            let nameLength = Int(data[at + 22]) | Int(data[at + 23]) << 8
            if nameLength == length, at + 25 <= data.count, data[at + 24] == UInt8(ascii: ".") { return true }
            at += 24 + nameLength
        }
        return false
    }

    /// A 9P2000/.u directory read's stats without the temporaries': nil when it has none (or is
    /// not a sequence of whole stats), else the stats kept, byte for byte.
    public static func hidingStats(in data: UnsafeRawBufferPointer) -> [UInt8]? {
        // size[2] type[2] dev[4] qid[13] mode[4] atime[4] mtime[4] length[8], then name[s].
        let nameAt = 41
        let length = prefix.utf8.count + 16 + suffix.utf8.count
        var kept: [UInt8] = []
        var hid = false
        var at = 0
        while at < data.count {
            guard at + nameAt + 2 <= data.count else { return nil }
            let end = at + 2 + (Int(data[at]) | Int(data[at + 1]) << 8)
            let nameLength = Int(data[at + nameAt]) | Int(data[at + nameAt + 1]) << 8
            guard end <= data.count, at + nameAt + 2 + nameLength <= end else { return nil }
            let name = UnsafeRawBufferPointer(rebasing: data[(at + nameAt + 2)..<(at + nameAt + 2 + nameLength)])
            if nameLength == length && isTemporary(Array(name)) {
                hid = true
            } else {
                kept.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[at..<end]))
            }
            at = end
        }
        return hid ? kept : nil
    }
}
