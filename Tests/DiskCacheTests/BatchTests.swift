import Foundation
import Testing
@testable import DiskCache

@Suite struct BatchTests {
    @Test func setManyGetManyDeleteMany() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 64)
        let big = [UInt8](repeating: 9, count: 100)
        let stored = try c.setMany([
            (key: "a", value: [1], kind: .blob),
            (key: .int(2), value: big, kind: .blob),
            (key: "a", value: [3], kind: .blob),
        ], tag: "t")
        #expect(stored == 3)
        #expect(try c.count() == 2)
        #expect(try c.keys() == ["a", .int(2)], "insertion order of first appearance")
        let got = try c.getMany(["a", .int(2), "missing"])
        #expect(got.count == 2)
        #expect(got["a"]?.value == [3], "a key given twice ends with its last value")
        #expect(got[.int(2)]?.value == big)
        #expect(got["a"]?.tag == "t")
        #expect(try c.check().isEmpty, "the first value of a replaced in the batch left nothing behind")
        #expect(try c.deleteMany(["a", "a", "missing"]) == 1)
        let reopened = try DiskCache(directory: dir)
        #expect(try reopened.getMany(["a", .int(2)]).keys.sorted { $0.bytes.count < $1.bytes.count } == [.int(2)])
        #expect(try reopened.deleteMany([.int(2)]) == 1)
        #expect(try reopened.check().isEmpty, "the value file went with its item")
    }

    @Test func aBadItemStoresNothing() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 64)
        let tooLong = StoredKey.blob([UInt8](repeating: 1, count: RecordHeader.maxPartLength + 1))
        #expect(throws: DiskCacheError.self) {
            try c.setMany([(key: "a", value: [UInt8](repeating: 1, count: 100), kind: .blob), (key: tooLong, value: [], kind: .blob)])
        }
        #expect(try c.count() == 0)
        #expect(try c.check().isEmpty, "the first item's value file was removed")
    }

    @Test func maxEntriesCullsInPolicyOrder() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        do {
            let c = try DiskCache(directory: dir, settings: [SettingName.maxEntries: .int(5)])
            for i in 0..<8 { try c.set(.int(Int64(i)), int: Int64(i)) }
            #expect(try c.count() == 5)
            #expect(try c.keys() == (3..<8).map { .int(Int64($0)) }, "least recently stored first")
        }
        // Persisted; cull_limit 0 turns the automatic cull off, cull() still bounds.
        let c = try DiskCache(directory: dir, settings: [SettingName.cullLimit: .int(0)])
        #expect(try c.setting(SettingName.maxEntries) == .int(5))
        for i in 8..<12 { try c.set(.int(Int64(i)), int: Int64(i)) }
        #expect(try c.count() == 9)
        #expect(try c.cull() == 4)
        #expect(try c.keys() == (7..<12).map { .int(Int64($0)) })
        // cull_limit bounds one write's culling, as for size_limit.
        try c.updateSetting(SettingName.maxEntries, .int(1))
        try c.updateSetting(SettingName.cullLimit, .int(2))
        try c.set("x", int: 0)
        #expect(try c.count() == 4)
        try c.updateSetting(SettingName.maxEntries, .int(0))
        for i in 20..<30 { try c.set(.int(Int64(i)), int: 0) }
        #expect(try c.count() == 14, "0: no bound")
        #expect(throws: DiskCacheError.self) { try c.updateSetting(SettingName.maxEntries, .int(-1)) }
        #expect(throws: DiskCacheError.self) { try c.updateSetting(SettingName.maxEntries, .text("ten")) }
        #expect(try c.setting(SettingName.maxEntries) == .int(0))
    }

    @Test func listingReadsNoValue() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 64)
        try c.set("small", bytes: [1, 2, 3], tag: "t")
        try c.set("big", bytes: [UInt8](repeating: 5, count: 1000), ttl: .seconds(100))
        try c.set("other", bytes: [], tag: .int(4))
        // The big value's file is gone: its metadata is still listed.
        let path = try StoredKey("big").withRef { k in try c.withItem(k, readFile: { _ in false }) { $0.filePath } }
        let file = try #require(path ?? nil)
        try FileManager.default.removeItem(atPath: file)
        let infos = try c.infoPage(after: nil, bound: .max, reverse: false, limit: 10)
        #expect(infos.map(\.key) == ["small", "big", "other"])
        #expect(infos.map(\.size) == [3, 1000, 0])
        #expect(infos.map(\.tag) == ["t", nil, .int(4)])
        #expect(infos[1].expireTime != nil && infos[0].expireTime == nil)
        #expect(try StoredKey("t").withRef { try c.keys(tagged: $0) } == ["small"])
        #expect(try c.liveKeys() == ["small", "big", "other"])
    }
}
