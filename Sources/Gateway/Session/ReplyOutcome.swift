import NineP
import Pebble

/// What a server's reply says about the request it answers: whether it is an error, whether it is
/// well formed and of the right type (else what the server did is unknown), whether the request
/// succeeded, and the facts the fid table keeps from it. Read from the frame in place.
struct ReplyOutcome {
    let isError: Bool
    /// False when the reply is malformed or of the wrong type: what the server did is unknown.
    let wellTyped: Bool
    let succeeded: Bool
    /// An Rxattrwalk's size.
    let xattrSize: UInt64?
    /// A Topen/Tcreate succeeded on a directory, whose reads then carry stats.
    let openedDirectory: Bool
    /// The qid of a successful Rattach, Ropen, Rlopen, Rcreate or Rlcreate (the fid's file).
    let qid: Qid?

    /// `frame` is the whole reply, or an Rread's head with `payloadToFollow` bytes of data to come.
    init(of frame: UnsafeRawBufferPointer, header: FrameHeader, answering request: PendingRequest, dialect: Dialect?,
         payloadToFollow: Int) {
        isError = header.type == MessageType.Rlerror.rawValue || header.type == MessageType.Rerror.rawValue
        let intact = payloadToFollow > 0
            || Self.isIntact(frame, header: header, isError: isError, readsStats: request.readsStats, dialect: dialect)
        var wellTyped = (isError || header.type == request.type.rawValue &+ 1) && intact
        var succeeded = wellTyped && !isError
        if request.type == .Twalk && succeeded {
            // size[4] type[1] tag[2] nwqid[2]
            let nwqid = frame.count >= 9 ? Int(FramePatch.u16(at: FrameHeader.byteCount, in: frame)) : -1
            // More qids than names answers no walk of ours, and a walk whose first name fails is
            // answered with an error (walk(5)), not with no qids: what the server did is unknown.
            wellTyped = nwqid <= request.walkNames && (nwqid > 0 || request.walkNames == 0)
            succeeded = nwqid == request.walkNames
        }
        self.wellTyped = wellTyped
        self.succeeded = succeeded
        // Rxattrwalk: size[8] after the header.
        xattrSize = succeeded && request.type == .Txattrwalk && frame.count >= 15
            ? FramePatch.u64(at: FrameHeader.byteCount, in: frame) : nil
        // Topen/Tcreate of a directory: Ropen/Rcreate's qid[13] starts with its type.
        openedDirectory = succeeded && (request.type == .Topen || request.type == .Tcreate) && frame.count > 7
            && frame[FrameHeader.byteCount] & Qid.directory != 0
        if succeeded && Self.repliesWithQid.contains(request.type) && frame.count >= FrameHeader.byteCount + NineP.qidSize {
            var reader = WireReader(frame, position: FrameHeader.byteCount)
            qid = try? Qid(from: &reader)
        } else {
            qid = nil
        }
    }

    /// Requests whose reply starts with the qid of the fid's file.
    static let repliesWithQid: Set<MessageType> = [.Tattach, .Topen, .Tlopen, .Tcreate, .Tlcreate]

    /// Whether a whole reply decodes in the session's dialect (an error in another dialect's form
    /// is re-encoded instead), so a client never gets a reply its own codec would choke on and the
    /// fid table never follows one. Rread and Rreaddir carry data the gateway does not copy out:
    /// their counts are checked by `countFits`, and an Rreaddir's entries, or the stats a 9P2000/.u
    /// directory read returns (`readsStats`), are walked in place.
    private static func isIntact(_ frame: UnsafeRawBufferPointer, header: FrameHeader, isError: Bool, readsStats: Bool,
                                 dialect: Dialect?) -> Bool {
        guard let dialect else { return true }  // Rversion: checked by backendVersion
        if header.type == MessageType.Rread.rawValue {
            // size[4] type[1] tag[2] count[4], then data; a short head fails `countFits`.
            guard readsStats, frame.count >= NineP.rreadHeaderSize else { return true }
            return (try? Stat.validateDirectory(UnsafeRawBufferPointer(rebasing: frame[NineP.rreadHeaderSize...]), dialect: dialect)) != nil
        }
        if header.type == MessageType.Rreaddir.rawValue {
            // size[4] type[1] tag[2] count[4], then entries; a short head fails `countFits`.
            return frame.count < NineP.rreadHeaderSize || (try? Dirent.validateAll(UnsafeRawBufferPointer(rebasing: frame[NineP.rreadHeaderSize...]))) != nil
        }
        if isError && ProxyError.foreignError(frame, dialect: dialect) != nil { return true }
        return (try? Frame<RMessage>.decode(frame, dialect: dialect)) != nil
    }

    /// Whether an Rread's, Rreaddir's or Rwrite's count is within what was asked for, and for data
    /// replies matches the data that follows: a client trusts it to size its copy.
    static func countFits(_ frame: UnsafeRawBufferPointer, header: FrameHeader, limit: UInt32?,
                          payloadToFollow: Int) -> Bool {
        guard let limit else { return true }
        // size[4] type[1] tag[2] count[4]
        guard frame.count >= NineP.rreadHeaderSize else { return false }
        let count = FramePatch.u32(at: FrameHeader.byteCount, in: frame)
        guard count <= limit else { return false }
        if header.type == MessageType.Rwrite.rawValue { return true }
        return Int(count) == frame.count &+ payloadToFollow &- NineP.rreadHeaderSize
    }
}
