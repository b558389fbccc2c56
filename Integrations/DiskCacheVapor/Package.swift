// swift-tools-version: 6.0
import PackageDescription

// Separate from the root package so that neither the engine nor the Python wheel depends on
// Vapor.
let package = Package(
    name: "DiskCacheVapor",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "DiskCacheVapor", targets: ["DiskCacheVapor"]),
    ],
    dependencies: [
        .package(name: "DiskCache", path: "../.."),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.0"),
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
        .testTarget(
            name: "DiskCacheVaporTests",
            dependencies: [
                "DiskCacheVapor",
                .product(name: "VaporTesting", package: "vapor"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
