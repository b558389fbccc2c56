import Foundation
import Testing
@testable import DiskCache

@Suite struct CacheTests {
    @Test func setGetDeleteAcrossReopen() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        do {
            let c = try DiskCache(directory: dir)
            try c.set("a", text: "alpha")
            try c.set(.int(7), int: 49)
            try c.set(.blob([0, 1, 2]), bytes: [])
            #expect(try c.get("a")?.text == "alpha")
            #expect(try c.get(.int(7))?.int == 49)
            #expect(try c.get(.float(7.0))?.int == 49, "1 == 1.0 as in SQLite")
            #expect(try c.get(.blob([0, 1, 2]))?.value == [])
            #expect(try c.get(.blob(Array("a".utf8))) == nil, "'a' != b'a'")
            #expect(try c.delete("a"))
            #expect(try !c.delete("a"))
            #expect(try c.count() == 2)
        }
        let c = try DiskCache(directory: dir)
        #expect(try c.get("a") == nil)
        #expect(try c.get(.int(7))?.int == 49)
        #expect(try c.count() == 2)
    }

    @Test func emptyAndHugeKeys() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set(.text(""), bytes: [])
        #expect(try c.get(.text(""))?.value == [])
        let huge = StoredKey.blob([UInt8](repeating: 7, count: 1 << 20))
        try c.set(huge, bytes: [1, 2, 3])
        #expect(try c.get(huge)?.value == [1, 2, 3])
        // A record larger than the replay buffer (4 MiB), after a smaller one.
        let bigger = StoredKey.blob((0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try c.set(bigger, bytes: [4])
        let reopened = try DiskCache(directory: dir)
        #expect(try reopened.get(bigger)?.value == [4])
        #expect(try reopened.get(huge)?.value == [1, 2, 3])
        #expect(try reopened.check().isEmpty)
    }

    @Test func addOnlyIfAbsentOrExpired() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        #expect(try c.add("k", bytes: [1]))
        #expect(try !c.add("k", bytes: [2]))
        #expect(try c.get("k")?.value == [1])
        try c.set("e", bytes: [1], ttl: .seconds(-1))
        #expect(try c.get("e") == nil)
        #expect(try c.add("e", bytes: [3]))
        #expect(try c.get("e")?.value == [3])
    }

    @Test func expiryTouchAndExpire() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set("old", bytes: [1], ttl: .seconds(-10))
        try c.set("new", bytes: [2], ttl: .seconds(1000))
        try c.set("forever", bytes: [3])
        #expect(try c.get("old") == nil)
        #expect(try !c.contains("old"))
        #expect(try c.count() == 2, "the write after 'old' culled it (cull_limit expired items per write)")
        #expect(try c.touch("new", ttl: nil))
        #expect(try c.get("new")?.expireTime == nil, "touch changes the expire time reads report")
        #expect(try c.touch("new", ttl: .seconds(1000)))
        #expect(try c.touch("forever", ttl: .seconds(-1)))
        #expect(try c.get("forever") == nil)
        #expect(try !c.touch("missing", ttl: nil))
        #expect(try c.expire() == 1)
        #expect(try c.count() == 1)
        let item = try #require(try c.get("new"))
        #expect(item.expireTime! > Date().timeIntervalSince1970 + 900)
    }

    @Test func incrIsNumericAndKeepsExpiryAndTag() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        #expect(try c.incr("n") == 1)
        #expect(try c.incr("n", by: 10) == 11)
        #expect(try c.incr("n", by: -20) == -9)
        #expect(try c.incr("missing", initial: nil) == nil)
        #expect(try c.get("missing") == nil)
        try c.set("t", int: 5, ttl: .seconds(1000), tag: "group")
        #expect(try c.incr("t") == 6)
        let item = try #require(try c.get("t"))
        #expect(item.tag == "group")
        #expect(item.expireTime != nil)
        try c.set("s", text: "x")
        #expect(throws: DiskCacheError.self) { try c.incr("s") }
        try c.set("max", int: Int64.max)
        #expect(throws: DiskCacheError.self) { try c.incr("max") }
        #expect(try c.get("max")?.int == Int64.max)
    }

    @Test func tagsAndEvict() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        for i in 0..<10 { try c.set(.int(Int64(i)), int: Int64(i), tag: i % 2 == 0 ? "even" : "odd") }
        try c.set("untagged", int: 1)
        #expect(try c.evict(tag: "even") == 5)
        #expect(try c.count() == 6)
        #expect(try c.get(.int(2)) == nil)
        #expect(try c.get(.int(3))?.tag == "odd")
        #expect(try c.evict(tag: .int(1)) == 0)
    }

    @Test func insertionOrderKeptOnOverwrite() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        for k in ["c", "a", "b"] { try c.set(.text(k), bytes: []) }
        try c.set("a", bytes: [1])
        try c.delete("c")
        try c.set("d", bytes: [])
        #expect(try c.keys().map(\.text) == ["a", "b", "d"])
        #expect(try c.keys(reverse: true).map(\.text) == ["d", "b", "a"])
        #expect(try c.peekItem(last: true)?.0 == "d")
        #expect(try c.peekItem(last: false)?.0 == "a")
        // Survives a reload from disk.
        let again = try DiskCache(directory: dir)
        #expect(try again.keys().map(\.text) == ["a", "b", "d"])
    }

    @Test func keyOrderLikeSQLite() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set(.blob([1]), bytes: [])
        try c.set("b", bytes: [])
        try c.set(.float(2.5), bytes: [])
        try c.set(.int(3), bytes: [])
        try c.set(.int(-1), bytes: [])
        try c.set("a", bytes: [])
        let keys = try c.keysInKeyOrder()
        #expect(keys == [.int(-1), .float(2.5), .int(3), "a", "b", .blob([1])])
    }

    @Test func queuePushPullPeek() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        let k1 = try c.push([1])
        let k2 = try c.push([2])
        let k0 = try c.push([0], side: .front)
        #expect(k1.int == 500_000_000_000_000)
        #expect(k2.int == 500_000_000_000_001)
        #expect(k0.int == 499_999_999_999_999)
        let p = try c.push([9], prefix: "jobs")
        #expect(p.text == "jobs-500000000000000")
        #expect(try c.peek()?.1.value == [0])
        #expect(try c.pull()?.1.value == [0])
        #expect(try c.pull(side: .back)?.1.value == [2])
        #expect(try c.pull()?.1.value == [1])
        #expect(try c.pull() == nil)
        #expect(try c.pull(prefix: "jobs")?.1.value == [9])
        // Expired heads are removed and skipped.
        _ = try c.push([5])
        try c.transact {
            let k = try c.push([6])
            _ = try c.touch(k, ttl: .seconds(-1))
        }
        #expect(try c.pull(side: .back)?.1.value == [5])
        #expect(try c.count() == 0)
    }

    @Test func transactionCommitsAndRollsBack() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.transact {
            try c.set("x", int: 1)
            try c.transact { try c.set("y", int: 2) }
            #expect(try c.get("x")?.int == 1, "reads inside see the transaction's writes")
        }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try c.transact {
                try c.set("x", int: 100)
                try c.delete("y")
                try c.set("z", int: 3)
                throw Boom()
            }
        }
        #expect(try c.get("x")?.int == 1)
        #expect(try c.get("y")?.int == 2)
        #expect(try c.get("z") == nil)
        let other = try DiskCache(directory: dir)
        #expect(try other.get("x")?.int == 1)
        #expect(try other.get("z") == nil)
    }

    @Test func largeValuesLiveInFiles() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 1024)
        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try c.set("big", bytes: big)
        #expect(try c.get("big")?.value == big)
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir).filter { $0.hasSuffix(".val") }
        #expect(files.count == 1)
        try c.set("big", bytes: [1])
        let after = try FileManager.default.subpathsOfDirectory(atPath: dir).filter { $0.hasSuffix(".val") }
        #expect(after.isEmpty, "replaced value file is removed")
        // Streaming set.
        var sent = 0
        try StoredKey.text("stream").withRef { k in
            try c.set(k, kind: .blob, streaming: { buf in
                let n = min(buf.count, 3_000_000 - sent)
                for i in 0..<n { buf[i] = UInt8(truncatingIfNeeded: sent + i) }
                sent += n
                return n
            })
        }
        let streamed = try #require(try c.get("stream"))
        #expect(streamed.value.count == 3_000_000)
        #expect(streamed.value[2_999_999] == UInt8(truncatingIfNeeded: 2_999_999))
        #expect(try c.check().isEmpty)
    }

    @Test func settingsPersistAndValidate() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        // A name the engine does not know is kept when asked for (python-diskcache keeps them).
        _ = try DiskCache(directory: dir, settings: ["size_limit": .int(1234), "custom": .text("kept")], leniency: .anySettingName)
        let c = try DiskCache(directory: dir)
        #expect(try c.setting("size_limit") == .int(1234))
        #expect(try c.setting("custom") == .text("kept"))
        #expect(try c.setting("cull_limit") == .int(10))
        #expect(throws: DiskCacheError.self) { try DiskCache(directory: dir, settings: ["eviction_policy": .text("random")]) }
        try c.updateSetting("cull_limit", .int(3))
        #expect(try DiskCache(directory: dir).setting("cull_limit") == .int(3))
    }

    @Test func statisticsSharedAndPersisted() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, statistics: true)
        try c.set("a", bytes: [])
        _ = try c.get("a")
        _ = try c.get("b")
        _ = try c.get("b")
        let other = try DiskCache(directory: dir)
        #expect(try other.stats() == (1, 2))
        try other.resetStats()
        #expect(try c.stats() == (0, 0))
    }

    @Test func clearRemovesEverything() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 10)
        for i in 0..<20 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: 1, count: i * 2)) }
        #expect(try c.clear() == 20)
        #expect(try c.count() == 0)
        #expect(try c.volume() == 0)
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir).filter { $0.hasSuffix(".val") }
        #expect(files.isEmpty)
        #expect(try DiskCache(directory: dir).count() == 0)
    }

    @Test func writerTimesOutWhileAnotherHoldsTheLock() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let a = try DiskCache(directory: dir)
        let b = try DiskCache(directory: dir)
        b.lockTimeout = .milliseconds(50)
        try a.beginTransaction()
        try a.set("held", int: 1)
        do {
            try b.set("x", int: 1)
            Issue.record("write did not wait for the lock")
        } catch let e as DiskCacheError {
            #expect(e.code == .timeout)
        }
        #expect(try b.get("held") == nil, "uncommitted writes are invisible to others")
        try a.endTransaction(commit: true)
        try b.set("x", int: 1)
        #expect(try b.get("held")?.int == 1)
    }

    @Test func innerTransactionErrorCaughtByOuterStillCommits() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        struct Inner: Error {}
        try c.transact {
            try c.set("a", int: 1)
            do {
                try c.transact {
                    try c.set("b", int: 2)
                    throw Inner()
                }
            } catch is Inner {}
        }
        let other = try DiskCache(directory: dir)
        #expect(try other.get("a")?.int == 1)
        #expect(try other.get("b")?.int == 2)
    }
}
