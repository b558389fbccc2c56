import Foundation
import Testing
@testable import DiskCache

@Suite(.serialized) struct SnapshotTests {
    @Test func openFromSnapshotPlusTailMatchesFullReplay() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir); Snapshot.worthWriting = 1 << 20 }
        Snapshot.worthWriting = 0
        do {
            let c = try DiskCache(directory: dir, sizeLimit: 1 << 40)
            for i in 0..<500 { try c.set(.int(Int64(i)), bytes: [UInt8(i & 255)], tag: i % 3 == 0 ? "t" : nil) }
            try c.set("ttl", bytes: [1], ttl: .seconds(1000))
        }
        // This open replays everything and leaves a snapshot behind.
        do {
            let c = try DiskCache(directory: dir)
            #expect(try c.count() == 501)
            for i in 0..<100 { try c.delete(.int(Int64(i))) }
            try c.set("after", text: "tail")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(names.contains { $0.hasPrefix("snapshot-") })
        let c = try DiskCache(directory: dir)
        #expect(try c.count() == 402)
        #expect(try c.get(.int(50)) == nil)
        #expect(try c.get(.int(450))?.value == [UInt8(450 & 255)])
        #expect(try c.get("after")?.text == "tail")
        #expect(try c.get("ttl")?.expireTime != nil)
        #expect(try c.setting("size_limit") == .int(1 << 40))
        #expect(try c.keys().first == .int(100))
        #expect(try c.evict(tag: "t") == 133)
        #expect(try c.check().isEmpty)
    }

    @Test func damagedSnapshotIsIgnored() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir); Snapshot.worthWriting = 1 << 20 }
        Snapshot.worthWriting = 0
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<200 { try c.set(.int(Int64(i)), int: Int64(i)) }
        }
        _ = try DiskCache(directory: dir)  // writes the snapshot
        let snap = try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("snapshot-") }!
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/" + snap)))
        data[Snapshot.page + 16] ^= 0xFF  // a slot of the hash table: undetected, lookups would go astray
        try Data(data).write(to: URL(fileURLWithPath: dir + "/" + snap))
        Snapshot.worthWriting = 1 << 40  // the damaged one must not be replaced before it is read
        let c = try DiskCache(directory: dir)
        #expect(try c.count() == 200)
        for i in stride(from: 0, to: 200, by: 7) { #expect(try c.get(.int(Int64(i)))?.int == Int64(i)) }
    }

    @Test func closeLeavesASnapshotForTheNextOpen() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        for i in 0..<20_000 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: UInt8(i & 255), count: 60)) }
        #expect(try !FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.hasPrefix("snapshot-") })
        try c.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.hasPrefix("snapshot-") })
        let d = try DiskCache(directory: dir)
        #expect(d.snapshotEnd > 0 && d.snapshotEnd == d.applied.end)
        #expect(try d.count() == 20_000)
        #expect(try d.get(.int(12345))?.value == [UInt8](repeating: UInt8(12345 & 255), count: 60))
        // Inserting into the mapped tables (their spare room, then past it) works.
        for i in 20_000..<30_000 { try d.set(.int(Int64(i)), int: Int64(i)) }
        #expect(try d.get(.int(29_999))?.int == 29_999)
        #expect(try d.get(.int(7))?.value == [UInt8](repeating: 7, count: 60))
        #expect(try d.count() == 30_000)
        #expect(try d.check().isEmpty)
    }

    @Test func newControlFileDoesNotCutTheLogAtDamageInTheMiddle() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<100 { try c.set(.int(Int64(i)), int: Int64(i)) }
        }
        // Bit rot in record 10 or so, and the control page lost.
        let seg = dir + "/" + SegmentFile.name(1)
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: seg)))
        data[data.count / 10] ^= 0xFF
        try Data(data).write(to: URL(fileURLWithPath: seg))
        try FileManager.default.removeItem(atPath: dir + "/control")
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasPrefix("snapshot-") {
            try FileManager.default.removeItem(atPath: dir + "/" + name)
        }
        let c = try DiskCache(directory: dir)
        #expect(try c.count() == 99)
        #expect(try c.get(.int(99))?.int == 99)
        #expect(try c.get(.int(50))?.int == 50)
    }
}
