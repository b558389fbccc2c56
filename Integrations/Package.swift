// swift-tools-version: 6.0
import PackageDescription

// Server-framework integrations, apart from the root package so that neither the engine nor
// the Python wheel depends on a framework. One package for both: they share about 115 of their
// ~130 dependency modules (SwiftNIO, BoringSSL, swift-crypto...), so one build serves both.
// A project that uses one product still resolves (but does not build) the other's framework.
let package = Package(
    name: "DiskCacheIntegrations",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "DiskCacheVapor", targets: ["DiskCacheVapor"]),
        .library(name: "DiskCacheHummingbird", targets: ["DiskCacheHummingbird"]),
    ],
    dependencies: [
        .package(name: "DiskCache", path: ".."),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        // Tests only: sessions stored through the Hummingbird driver.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
    ],
    targets: [
        .target(
            name: "DiskCacheVapor",
            dependencies: [
                .product(name: "DiskCache", package: "DiskCache"),
                .product(name: "DiskCacheKit", package: "DiskCache"),
                .product(name: "Vapor", package: "vapor"),
            ]
        ),
        .target(
            name: "DiskCacheHummingbird",
            dependencies: [
                .product(name: "DiskCache", package: "DiskCache"),
                .product(name: "DiskCacheKit", package: "DiskCache"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // What both test targets share (not a product).
        .target(name: "IntegrationTestSupport", path: "Tests/IntegrationTestSupport"),
        .testTarget(
            name: "DiskCacheVaporTests",
            dependencies: [
                "DiskCacheVapor",
                "IntegrationTestSupport",
                .product(name: "VaporTesting", package: "vapor"),
            ]
        ),
        .testTarget(
            name: "DiskCacheHummingbirdTests",
            dependencies: [
                "DiskCacheHummingbird",
                "IntegrationTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
