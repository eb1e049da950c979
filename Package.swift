// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "pebble9p",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pebble9p", targets: ["pebble9p"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "CShims"),
        .target(name: "NineP"),
        .target(name: "Pebble", dependencies: ["NineP", "COpenSSL"]),
        .target(
            name: "Gateway",
            dependencies: [
                "NineP", "Pebble", "CLibUV", "COpenSSL", "CShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "pebble9p",
            dependencies: [
                "Gateway", "NineP", "Pebble",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "NinePTests", dependencies: ["NineP", "TestSupport"], exclude: ["Corpus"]),
        .testTarget(name: "PebbleTests", dependencies: ["Pebble", "NineP", "TestSupport"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "NineP", "Pebble", "TestSupport"]),
        .testTarget(name: "InteropTests", dependencies: ["NineP", "Gateway", "pebble9p", "TestSupport"], exclude: ["clients"]),
    ],
    swiftLanguageModes: [.v6]
)
