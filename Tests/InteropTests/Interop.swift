import Testing

/// Every interop test starts real processes (diod, pebble9p, Python clients) on loopback. They run
/// one at a time: the machine has two cores and the large-transfer tests need both.
@Suite(.serialized)
struct Interop {}
