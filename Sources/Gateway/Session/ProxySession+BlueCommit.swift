import Foundation
import NineP
import Pebble

/// Red: the commit of what a Blue fid holds, with the gateway's own requests (`ProxySession+Blue`
/// says what is held and when it commits). The steps go a few writes at a time, a resize alone;
/// short writes are resumed; an atomic replace (`ProxySession+BlueReplace`) wraps them in a
/// temporary and a rename. Requests that waited for the commit are handled in order when it ends.
extension ProxySession {
    /// Commits what `backendFid` holds: its held writes, or a streaming fid's temporary.
    func commitHeld(_ backendFid: UInt32) {
        if blue[backendFid]?.stream != nil { commitStream(backendFid) } else { startCommit(backendFid) }
    }

    /// Starts committing what `backendFid` holds: the steps go as the gateway's own requests.
    func startCommit(_ backendFid: UInt32) {
        guard var state = blue[backendFid], state.commit == nil, !state.file.isEmpty else { return }
        if access.readAhead != nil { access.fileGenerations.bump(state.qidPath) }
        // A Twrite's data is at most the server's msize - 24 (the iounit convention: P9_IOHDRSZ), as servers expect.
        var steps = state.file.commitPlan(maxWrite: Int(backendIOUnit))
        // A file this fid made is empty at the server: no truncation is needed, and content that
        // one Twrite carries is written at once (one write(2) at the server), with no temporary:
        // creating many small files costs what it costs without Blue.
        if state.creates, steps.first == .resize(0) { steps.removeFirst() }
        let replaces = !state.writeThrough && !(state.creates && steps.count <= 1)
        state.commit = BlueCommit(file: state.file, spill: state.spill, steps: steps, writeFid: backendFid)
        state.file = BlueFile()
        state.spill = nil
        blue[backendFid] = state
        if replaces, startReplace(backendFid) { return }
        pumpCommit(backendFid)
    }

    /// Sends the commit's next steps: a few writes at a time, a resize alone.
    func pumpCommit(_ backendFid: UInt32) {
        sending: while var commit = blue[backendFid]?.commit, commit.error == nil, commit.next < commit.steps.count,
                       !commit.resizing, commit.inFlight < Self.commitWindow {
            let step = commit.steps[commit.next]
            let message: TMessage
            // Spilled bytes go from the spill file to the server's socket (sendfile) when they can.
            var fromFile: FileData?
            switch step {
            case let .resize(size):
                if commit.inFlight > 0 { break sending }
                commit.resizing = true
                message = resizeMessage(commit.writeFid, to: size)
            case let .write(_, _, count, offset) where commit.file.spilled && commit.spill != nil && host.sendsFileData:
                let spill = commit.spill!
                fromFile = FileData(owner: spill, fd: spill.fd, offset: offset, count: count)
                message = .write(Twrite(fid: commit.writeFid, offset: offset, data: []))
            case let .write(extent, start, count, offset):
                guard let data = commit.file.spilled ? commit.spill?.read(count: count, at: offset)
                        : Array(commit.file.extents[extent].bytes[start..<(start + count)]) else {
                    commit.error = commit.error ?? SpillError.unreadable.proxyError
                    blue[backendFid]?.commit = commit
                    break sending
                }
                message = .write(Twrite(fid: commit.writeFid, offset: offset, data: data))
            }
            commit.next += 1
            commit.inFlight += 1
            blue[backendFid]?.commit = commit
            let sent = sendOwn(message, commitStep: true, data: fromFile) { [unowned self] reply in
                self.commitStepAnswered(backendFid, step: step, reply: reply)
            }
            if !sent {
                commit.inFlight -= 1
                commit.resizing = false
                commit.error = .tooManyRequests
                blue[backendFid]?.commit = commit
            }
        }
        if blue[backendFid]?.commit?.done == true { commitWritten(backendFid) }
    }

    func commitStepAnswered(_ backendFid: UInt32, step: BlueFile.CommitStep, reply: RMessage?) {
        guard var commit = blue[backendFid]?.commit else { return }
        commit.inFlight -= 1
        switch (step, reply) {
        case let (.write(_, _, count, _), .write(written)?) where Int(written.count) == count:
            break
        case let (.write(extent, start, count, offset), .write(written)?) where written.count > 0 && Int(written.count) < count:
            // A short write: the rest goes next.
            let done = Int(written.count)
            commit.steps.insert(.write(extent: extent, start: start + done, count: count - done, offset: offset + UInt64(done)), at: commit.next)
        case let (.resize(size), .wstat?) where dialect != .linux:
            commit.inFlight += 1
            blue[backendFid]?.commit = commit
            return plan9ResizeChecked(backendFid, size: size)
        case (.resize, .setattr?), (.resize, .wstat?):
            commit.resizing = false
        case let (_, .lerror(error)?):
            commit.error = commit.error ?? ProxyError(errno: error.ecode, message: String(cString: strerror(Int32(truncatingIfNeeded: error.ecode))))
        case let (_, .error(error)?):
            commit.error = commit.error ?? ProxyError(errno: error.errno ?? 5, message: String(decoding: error.ename.bytes, as: UTF8.self))
        default:
            commit.error = commit.error ?? ProxyError(errno: 5, message: "Input/output error", detail: "commit: short or unexpected reply")
        }
        if case .resize = step { commit.resizing = false }
        blue[backendFid]?.commit = commit
        if commit.done { commitWritten(backendFid) } else { pumpCommit(backendFid) }
    }

    /// A Twstat of the length was answered: on 9P2000/.u the file's length is asked, for a server
    /// may answer without making the change (the py9p server ignores the length), and writes over
    /// an old content that kept its length would leave a mix of both. Not so: the commit fails
    /// before anything is written.
    private func plan9ResizeChecked(_ backendFid: UInt32, size: UInt64) {
        guard let writeFid = blue[backendFid]?.commit?.writeFid else { return }
        let sent = sendOwn(.stat(Tstat(fid: writeFid)), commitStep: true) { [unowned self] reply in
            guard var commit = blue[backendFid]?.commit else { return }
            commit.inFlight -= 1
            commit.resizing = false
            if case let .stat(answer)? = reply, answer.stat.length == size {} else {
                commit.error = commit.error ?? ProxyError(errno: 5, message: "Input/output error",
                                                          detail: "commit: the server did not set the file's length to \(size)")
            }
            blue[backendFid]?.commit = commit
            if commit.done { commitWritten(backendFid) } else { pumpCommit(backendFid) }
        }
        guard !sent, var commit = blue[backendFid]?.commit else { return }
        commit.inFlight -= 1
        commit.resizing = false
        commit.error = commit.error ?? .tooManyRequests
        blue[backendFid]?.commit = commit
        if commit.done { commitWritten(backendFid) }
    }

    /// The commit's steps are done (or one failed): an atomic replace renames its temporary over
    /// the file (or removes it), then the commit is over.
    func commitWritten(_ backendFid: UInt32) {
        if blue[backendFid]?.commit?.replace != nil { return replaceWritten(backendFid) }
        finishCommit(backendFid)
    }

    /// The commit is over: its bytes are given back, and what waited on it is handled in order.
    func finishCommit(_ backendFid: UInt32) {
        guard var state = blue[backendFid], let commit = state.commit else { return }
        if access.readAhead != nil { access.fileGenerations.bump(state.qidPath) }
        state.commit = nil
        state.commitError = commit.error
        state.creates = false
        blueBytes &-= commit.file.byteCount
        host.blueCounted(commit.error == nil ? .commit : .commitFailed)
        if let error = commit.error {
            host.blueCommitFailed(error, bytes: commit.file.byteCount)
        }
        let deferred = state.deferred
        state.deferred = []
        // A session that drains or resets has no client to answer, and its fid numbers go back.
        blue[backendFid] = phase == .active ? state : nil
        releaseDeferred(deferred)
    }

    /// Requests that waited for a commit are handled, in order (dropped when the session ends).
    func releaseDeferred(_ deferred: [(tag: UInt16, frame: [UInt8])]) {
        forgetDeferred(deferred)
        guard phase == .active else { return }
        for waiting in deferred {
            var frame = waiting.frame
            frame.withUnsafeMutableBytes { _ = clientFrame($0, replayed: true) }
        }
    }

    /// Requests that waited for a commit no longer count as held, and their tags are free.
    func forgetDeferred(_ deferred: [(tag: UInt16, frame: [UInt8])]) {
        for waiting in deferred {
            blueDeferredTags.remove(waiting.tag)
            blueBytes &-= waiting.frame.count
            blueDeferredBytes &-= waiting.frame.count
        }
    }
}
