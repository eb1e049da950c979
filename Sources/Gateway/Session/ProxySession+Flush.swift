import NineP
import Pebble

/// Tflush: a client flush goes to the server once per request, and flushes answered in order.
extension ProxySession {
    /// Tflush: forwarded when the old request is still at the backend; answered at once when its
    /// reply has already been sent (so the client sees that reply before the Rflush).
    func clientFlush(_ frame: UnsafeMutableRawBufferPointer, oldTag: UInt16, tag: UInt16) {
        if flushDeferred(clientTag: oldTag) { return sendToClient(.flush(Rflush()), tag: tag) }
        if !splitOfClientTag.isEmpty, flushSplit(oldTag: oldTag, tag: tag) { return }
        guard let oldBackendTag = tags.backendTag(forClientTag: oldTag),
              let target = tags.request(oldBackendTag)
        else {
            guard let earlier = flushOfClientTag[oldTag] else { return sendToClient(.flush(Rflush()), tag: tag) }
            return waitForFlush(earlier, tag: tag)
        }
        if !target.sent {
            // Never sent: it is dropped here and never happens, and the flush is answered at once.
            _ = held.remove(tag: oldBackendTag)
            dropHeld(oldBackendTag)
            return sendToClient(.flush(Rflush()), tag: tag)
        }
        var request = PendingRequest(origin: .client(tag: tag), type: .Tflush, serial: tags.makeSerial())
        request.flushTarget = (oldBackendTag, target.serial)
        // One client flush per request at the server, so Tflushes stay within max-inflight: a
        // second one for the same request, or one for a Tflush, waits for the flush the server
        // has and is answered right after it (by then the request has been answered or dropped).
        let earlier = flushOfTarget[oldBackendTag].flatMap { $0.serial == target.serial ? $0.flush : nil }
        if let waitOn = target.type == .Tflush ? oldBackendTag : earlier {
            return waitForFlush(waitOn, tag: tag, target: request.flushTarget)
        }
        guard let backendTag = tags.add(request) else { return reply(error: .tooManyRequests, tag: tag) }
        flushOfTarget[oldBackendTag] = (backendTag, target.serial)
        flushOfClientTag[oldTag] = backendTag
        frame.storeBytes(of: oldBackendTag.littleEndian, toByteOffset: 7, as: UInt16.self)
        FramePatch.setTag(backendTag, in: frame)
        host.sendToBackend(UnsafeRawBufferPointer(frame))
    }

    /// A client Tflush (tag `tag`) that is answered right after the Tflush at the server under
    /// `backendTag` is: it never reaches the server itself.
    func waitForFlush(_ backendTag: UInt16, tag: UInt16, target: (tag: UInt16, serial: UInt64)? = nil) {
        var request = PendingRequest(origin: .client(tag: tag), type: .Tflush, serial: tags.makeSerial())
        request.flushTarget = target
        request.sent = false
        guard let waiterTag = tags.add(request) else { return reply(error: .tooManyRequests, tag: tag) }
        flushWaiters[backendTag, default: []].append((waiterTag, request.serial))
    }

    /// A Tflush at the server was answered (and its answer passed on): the Tflushes waiting on it
    /// are answered now, in order, unless one was itself flushed in the meantime.
    func flushAnswered(_ backendTag: UInt16, target: (tag: UInt16, serial: UInt64)?) {
        if let target, flushOfTarget[target.tag]?.flush == backendTag { flushOfTarget[target.tag] = nil }
        if let oldTag = flushOfClientTag.first(where: { $0.value == backendTag })?.key { flushOfClientTag[oldTag] = nil }
        for waiter in flushWaiters.removeValue(forKey: backendTag) ?? [] {
            guard let waiting = tags.request(waiter.tag), waiting.serial == waiter.serial, !waiting.sent else { continue }
            _ = tags.complete(waiter.tag)
            if case let .client(clientTag) = waiting.origin, !waiting.abandoned {
                sendToClient(.flush(Rflush()), tag: clientTag)
            }
        }
    }
}
