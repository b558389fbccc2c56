// swift-tools-version: 6.0
import PackageDescription

// Separate from the root package so that neither the engine nor the Python wheel depends on
// Hummingbird.
let package = Package(
    name: "DiskCacheHummingbird",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "DiskCacheHummingbird", targets: ["DiskCacheHummingbird"]),
    ],
    dependencies: [
        .package(name: "DiskCache", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        // Tests only: sessions stored through the driver.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
    ],
    targets: [
        .target(
            name: "DiskCacheHummingbird",
            dependencies: [
                .product(name: "DiskCache", package: "DiskCache"),
                .product(name: "DiskCacheKit", package: "DiskCache"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "DiskCacheHummingbirdTests",
            dependencies: [
                "DiskCacheHummingbird",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
