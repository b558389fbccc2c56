import Foundation
import Testing
@testable import DiskCache

@Suite struct EvictionTests {
    /// Fills a small cache, then shows which keys the policy gave up.
    func survivors(_ policy: EvictionPolicy, touching touched: [Int]) throws -> Set<Int64> {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        // Each record is ~64 + 8 + 1000 bytes: 10 fit under 11 000.
        let c = try DiskCache(directory: dir, sizeLimit: 11_000, cullLimit: 2, policy: policy)
        for i in 0..<10 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: 0, count: 1000)) }
        for t in touched { _ = try c.get(.int(Int64(t))); _ = try c.get(.int(Int64(t))) }
        // Each new write over the limit evicts up to cull_limit items.
        for i in 10..<12 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: 0, count: 1000)) }
        return Set(try c.keys().compactMap(\.int))
    }

    @Test func leastRecentlyStoredEvictsOldestStore() throws {
        let s = try survivors(.leastRecentlyStored, touching: [0, 1])
        #expect(!s.contains(0) && !s.contains(1), "reads do not save items under LRS: \(s.sorted())")
        #expect(s.contains(11))
    }

    @Test func leastRecentlyUsedKeepsReadItems() throws {
        let s = try survivors(.leastRecentlyUsed, touching: [0, 1])
        #expect(s.contains(0) && s.contains(1), "\(s.sorted())")
        #expect(!s.contains(2))
    }

    @Test func leastFrequentlyUsedKeepsFrequentItems() throws {
        let s = try survivors(.leastFrequentlyUsed, touching: [0, 1])
        #expect(s.contains(0) && s.contains(1), "\(s.sorted())")
    }

    @Test func noneNeverEvicts() throws {
        let s = try survivors(.none, touching: [])
        #expect(s.count == 12)
    }

    @Test func cullBringsVolumeUnderLimit() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, cullLimit: 0)
        for i in 0..<50 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: 0, count: 1000)) }
        #expect(try c.count() == 50, "cull_limit 0 disables auto-cull")
        try c.updateSetting("size_limit", .int(20_000))
        let removed = try c.cull()
        // Ten at a time (python-diskcache's batch) until under the limit: 50 → 40 → 30 → 20 → 10.
        #expect(removed == 40)
        #expect(try c.volume() <= 20_000)
        #expect(try c.count() == 50 - removed)
        // Oldest went first.
        #expect(try c.get(.int(0)) == nil)
        #expect(try c.get(.int(49)) != nil)
    }

    @Test func compactionKeepsLiveDataAndOrder() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, policy: .leastRecentlyUsed)
        for round in 0..<5 {
            for i in 0..<200 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: UInt8(round), count: 3000)) }
        }
        try c.set("ttl", bytes: [1], ttl: .seconds(1000))
        _ = try c.touch("ttl", ttl: .seconds(5000))
        let before = try c.keys()
        try c.compact()
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("segment-") }
        #expect(segments.count == 1)
        let other = try DiskCache(directory: dir)
        #expect(try other.keys() == before)
        #expect(try other.get(.int(5))?.value.first == 4)
        #expect(try other.get("ttl")!.expireTime! > Date().timeIntervalSince1970 + 4000)
        #expect(try c.get(.int(199))?.value.first == 4, "the compacting process itself reloaded")
        #expect(try other.check().isEmpty)
    }

    @Test func automaticCompactionBoundsTheLog() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        let value = [UInt8](repeating: 9, count: 4000)
        for _ in 0..<20 {
            for i in 0..<100 { try c.set(.int(Int64(i)), bytes: value) }
        }
        let segment = try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("segment-") }!
        let size = try FileManager.default.attributesOfItem(atPath: dir + "/" + segment)[.size] as! Int
        #expect(size < 3 * 100 * 4100, "log is \(size) bytes for 400 KB live")
        #expect(try c.count() == 100)
    }
}
