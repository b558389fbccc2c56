// swift-tools-version: 6.1
import PackageDescription

// Benchmarks of the Swift API (ordo-one/benchmark): `swift package benchmark` in this folder.
// A package of its own so that the root package does not depend on the benchmark framework.
let package = Package(
    name: "DiskCacheBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "DiskCache", path: ".."),
        // The RuntimeInterposer trait (on by default) needs a package the local mirrors lack.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "DiskCacheBenchmarks",
            dependencies: [
                .product(name: "DiskCache", package: "DiskCache"),
                .product(name: "DiskCacheKit", package: "DiskCache"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/DiskCacheBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
