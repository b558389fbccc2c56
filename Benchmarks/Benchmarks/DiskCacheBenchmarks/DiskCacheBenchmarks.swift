import Benchmark
import DiskCache
import DiskCacheKit
import Foundation

struct Profile: Codable, Sendable {
    var id: Int
    var name: String
    var email: String
    var tags: [String]
}

let keyCount = 1000
let value = [UInt8](repeating: 0x5a, count: 100)
let profile = Profile(id: 7, name: "Ada Lovelace", email: "ada@example.com", tags: ["admin", "math"])

/// One benchmark's cache: opened (and filled) by the benchmark's setup, removed by its teardown,
/// so that neither is measured.
final class Fixture: @unchecked Sendable {
    let name: String
    private(set) var path = ""
    private(set) var kit: AsyncDiskCache!
    var cache: DiskCache { kit.cache }

    init(_ name: String) { self.name = name }

    /// Opens a new cache; `fill` stores `keyCount` keys "k0"… with 100-byte values, `fillCodable`
    /// stores "user:0"… with a `Profile` each.
    func setUp(fill: Bool = false, fillCodable: Bool = false) async throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("dcbench-\(name)-\(UUID().uuidString)").path
        kit = try AsyncDiskCache(directory: path)
        if fill { for i in 0..<keyCount { try cache.set("k\(i)", bytes: value) } }
        if fillCodable { for i in 0..<keyCount { try await kit.set(profile, forKey: "user:\(i)") } }
    }

    func tearDown() {
        kit = nil
        try? FileManager.default.removeItem(atPath: path)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1000
    )

    // Engine (DiskCache), synchronous: 100-byte values over 1000 keys; each iteration does
    // 1000 operations (throughput and times are per operation: the `*` columns).
    let get = Fixture("get")
    Benchmark("engine get (hit, 100 B)", closure: { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(try get.cache.get("k\(i % keyCount)"))
        }
    }, setup: { try await get.setUp(fill: true) }, teardown: { get.tearDown() })

    let set = Fixture("set")
    Benchmark("engine set (100 B)", closure: { benchmark in
        for i in benchmark.scaledIterations {
            try set.cache.set("k\(i % keyCount)", bytes: value)
        }
    }, setup: { try await set.setUp() }, teardown: { set.tearDown() })

    let delete = Fixture("delete")
    Benchmark("engine delete (present key)", closure: { benchmark in
        for i in benchmark.scaledIterations { try delete.cache.set("k\(i)", bytes: value) }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            blackHole(try delete.cache.delete("k\(i)"))
        }
    }, setup: { try await delete.setUp() }, teardown: { delete.tearDown() })

    // DiskCacheKit: Codable values (JSON), async.
    let kitSet = Fixture("kitset")
    Benchmark("kit set Codable", closure: { benchmark in
        for i in benchmark.scaledIterations {
            try await kitSet.kit.set(profile, forKey: "user:\(i % keyCount)")
        }
    }, setup: { try await kitSet.setUp() }, teardown: { kitSet.tearDown() })

    let kitGet = Fixture("kitget")
    Benchmark("kit get Codable", closure: { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(try await kitGet.kit.get("user:\(i % keyCount)", as: Profile.self))
        }
    }, setup: { try await kitGet.setUp(fillCodable: true) }, teardown: { kitGet.tearDown() })

    // Gets from 1 and 8 concurrent tasks. Each task does the iteration's 1000 gets, so 8 tasks
    // do 8x the work: throughput in gets/s is the `*` throughput times the task count.
    for tasks in [1, 8] {
        let fixture = Fixture("tasks\(tasks)")
        Benchmark("kit get bytes, \(tasks) task(s)", closure: { benchmark in
            let iterations = benchmark.scaledIterations
            let kit = fixture.kit!
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0..<tasks {
                    group.addTask {
                        for i in iterations {
                            blackHole(try await kit.bytes("k\((i + t * 131) % keyCount)"))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }, setup: { try await fixture.setUp(fill: true) }, teardown: { fixture.tearDown() })
    }
}
