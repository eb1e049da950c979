import CLibUV

/// Closes a libuv handle the gateway allocated, whose `data` holds a retained reference to the
/// object that owns it (or nil). Once libuv lets go of the handle, the reference is released and
/// the handle's memory freed. A handle already closing is left alone.
///
/// Every handle type (poll, timer, async, process) starts with the uv_handle_t fields, so one
/// callback serves them all.
func closeOwnedHandle(_ handle: UnsafeMutablePointer<uv_handle_t>) {
    guard uv_is_closing(handle) == 0 else { return }
    uv_close(handle) { raw in
        guard let raw else { return }
        if let data = raw.pointee.data { Unmanaged<AnyObject>.fromOpaque(data).release() }
        UnsafeMutableRawPointer(raw).deallocate()
    }
}
