// swift-tools-version: 6.0
// The CPython extension module `diskcache_swift._engine`, built by setup.py with the Python
// include directory passed as `-Xcc -I…`. A package of its own so that `swift test` at the
// root never needs Python headers.
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which differs between checkouts.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "DiskCachePython",
    products: [
        .library(name: "_engine", type: .dynamic, targets: ["DiskCacheExtension"]),
    ],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        .systemLibrary(name: "CPython", path: "Sources/CPython"),
        .target(
            name: "DiskCacheExtension",
            dependencies: ["CPython", .product(name: "DiskCache", package: root)]
        ),
    ],
    swiftLanguageModes: [.v6]
)
