import Foundation

/// The seed for a randomized test: `PEBBLE9P_TEST_SEED` when set (to replay a failure exactly),
/// else a fresh one. It is printed, and the tests name it in their failure messages, so any run
/// can be replayed with `PEBBLE9P_TEST_SEED=N scripts/test --filter NAME`.
public func testSeed(_ label: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["PEBBLE9P_TEST_SEED"].flatMap { UInt64($0) }
        ?? UInt64.random(in: 0...UInt64.max)
    print("\(label): seed \(seed) (replay with PEBBLE9P_TEST_SEED=\(seed))")
    return seed
}
