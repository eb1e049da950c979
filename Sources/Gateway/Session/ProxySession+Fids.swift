import NineP
import Pebble

/// Fid bookkeeping: what a reply's outcome does to the fid table, what a new fid inherits, and
/// how a request that never happened is undone.
extension ProxySession {
    /// Requests whose first fid stands for something else once they succeed: it is then open (or
    /// an xattr fid, for Txattrcreate).
    static let changesFidInPlace: Set<MessageType> = [.Topen, .Tlopen, .Tcreate, .Tlcreate, .Txattrcreate]

    /// Applies a reply's outcome to the fid table.
    /// `known`: false when the reply was malformed or of the wrong type, so what the server did is
    /// unknown: a fid it may have created or changed is taken from the client (EBADF from then on)
    /// and kept live at the backend until the session's cleanup clunks it.
    /// `xattrSize`: an Rxattrwalk's size.
    /// `openedDirectory`: a Topen/Tcreate succeeded on a directory, whose reads then carry stats.
    /// `qid`: the reply's qid (Rattach, Ropen, Rlopen, Rcreate, Rlcreate): the fid's file.
    /// `walked`: for a walk from a fid with a scope that the client sees complete, where the fid is.
    func settle(_ request: PendingRequest, succeeded: Bool, known: Bool = true, xattrSize: UInt64? = nil,
                openedDirectory: Bool = false, qid: Qid? = nil, walked: (path: CapabilityPath, qidType: UInt8, qidPath: UInt64?)? = nil) {
        if !known, let changed = request.changedFid { fids.orphan(clientFid: changed.client, backendFid: changed.backend) }
        if succeeded, let changed = request.changedFid, Self.changesFidInPlace.contains(request.type) {
            if let open = request.blueOpen { openedForWriting(open, clientFid: changed.client, backendFid: changed.backend, qid: qid) }
            fids.describe(clientFid: changed.client, backendFid: changed.backend) { fid in
                fid.kind = request.type == .Txattrcreate ? .xattr : .open
                if let size = request.xattrSize { fid.xattrSize = size }
                if openedDirectory { fid.readsStats = true }
                if let qid { (fid.qidType, fid.qidPath) = (qid.type, qid.path) }
                // Tcreate/Tlcreate: the fid is now the file made in its directory.
                if let name = request.createdName, let scope = fid.scope {
                    fid.scope?.path = scope.path.appending(String(decoding: name.bytes, as: UTF8.self))
                }
            }
        }
        if succeeded, request.type == .Twalk, let changed = request.changedFid, let walked {
            fids.describe(clientFid: changed.client, backendFid: changed.backend) { fid in
                fid.scope?.path = walked.path
                (fid.qidType, fid.qidPath) = (walked.qidType, walked.qidPath)
            }
        }
        if let backendFid = request.createdBackendFid {
            if succeeded {
                fids.commitCreated(clientFid: request.createdClientFid, backendFid: backendFid)
                let kind: ClientFid.Kind? = request.type == .Txattrwalk ? .xattr : request.type == .Tauth ? .auth : nil
                if let clientFid = request.createdClientFid {
                    fids.describe(clientFid: clientFid, backendFid: backendFid) { fid in
                        if let kind { fid.kind = kind }
                        if let xattrSize { fid.xattrSize = xattrSize }
                        Self.inheritScope(&fid, request: request, qid: qid, walked: walked)
                    }
                }
            } else if !known {
                fids.orphanCreated(clientFid: request.createdClientFid, backendFid: backendFid)
            } else {
                fids.abandonCreated(clientFid: request.createdClientFid, backendFid: backendFid)
            }
        }
        if let backendFid = request.releasedBackendFid {
            // Tclunk and Tremove release the fid whatever the reply says. After a malformed reply
            // to the client's, whether the server did is unknown: the number stays live (never
            // handed out again, clunked by the session's cleanup), else each fid the session made
            // next would land on a number the server may still hold.
            if !known, let clientFid = request.releasedClientFid {
                fids.orphan(clientFid: clientFid, backendFid: backendFid)
            } else {
                fids.released(clientFid: request.releasedClientFid, backendFid: backendFid)
            }
        }
    }

    /// What a fid a request made may do and where it is: an attach's is the whole attach point
    /// (a token's attach is made by `attach(as:)`), a walk's or an xattr's is its parent's.
    static func inheritScope(_ fid: inout ClientFid, request: PendingRequest, qid: Qid?,
                                     walked: (path: CapabilityPath, qidType: UInt8, qidPath: UInt64?)?) {
        switch request.type {
        case .Tattach:
            guard let qid else { return }
            fid.scope = FidScope(rights: .all, path: .root, rootQid: qid, tokenID: nil, attachID: request.serial)
            fid.qidType = qid.type
        case .Twalk:
            fid.scope = request.scope
            if let walked {
                fid.scope?.path = walked.path
                (fid.qidType, fid.qidPath) = (walked.qidType, walked.qidPath)
            }
        case .Txattrwalk:
            fid.scope = request.scope
        default:
            break
        }
    }

    /// A request that never reached the server's state: drop its reservation, restore its release.
    func undo(_ request: PendingRequest) {
        if let backendFid = request.createdBackendFid {
            fids.abandonCreated(clientFid: request.createdClientFid, backendFid: backendFid)
        }
        if let clientFid = request.releasedClientFid, let backendFid = request.releasedBackendFid {
            fids.restoreReleased(clientFid: clientFid, backendFid: backendFid)
        }
    }
}
