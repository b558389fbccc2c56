// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "DiskCache",
    products: [
        .library(name: "DiskCache", targets: ["DiskCache"]),
        // Swift concurrency and Codable over the engine (which stays free of both).
        .library(name: "DiskCacheKit", targets: ["DiskCacheKit"]),
        .executable(name: "diskcache", targets: ["diskcache"]),
        .executable(name: "diskcache-demo", targets: ["diskcache-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
    ],
    targets: [
        .target(name: "CDiskCacheSupport"),
        .target(
            name: "DiskCache",
            dependencies: [
                "CDiskCacheSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(name: "DiskCacheKit", dependencies: ["DiskCache"]),
        .executableTarget(
            name: "diskcache",
            dependencies: [
                "DiskCache",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "diskcache-demo", dependencies: ["DiskCache"]),
        .executableTarget(name: "diskcache-bench", dependencies: ["DiskCache", "CDiskCacheSupport"]),
        .executableTarget(name: "dc-testchild", dependencies: ["DiskCache"]),
        // libFuzzer target (scripts/fuzz.sh builds it with -sanitize=fuzzer); a plain build
        // replays input files.
        .executableTarget(name: "dc-fuzz", dependencies: ["DiskCache"]),
        .testTarget(name: "DiskCacheTests", dependencies: ["DiskCache", "DiskCacheKit", "CDiskCacheSupport", "dc-testchild"]),
    ],
    swiftLanguageModes: [.v6]
)
