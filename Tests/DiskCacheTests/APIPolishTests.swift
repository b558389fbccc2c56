import Foundation
import Testing
@testable import DiskCache

/// The Swift-facing API: keys, time types, settings, close.
@Suite struct APIPolishTests {
    @Test func keysFromInterpolatedStringsIntegersAndBytes() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        let id = 42
        try c.set("user:\(id)", text: "Ada")
        #expect(try c.get("user:42")?.text == "Ada")
        try c.set(7, text: "seven")
        try c.set(CacheKey(Int32(8)), text: "eight")
        try c.set(CacheKey([0x37]), text: "bytes")
        try c.set("7", text: "text")
        #expect(try c.get(7)?.text == "seven")
        #expect(try c.get(8)?.text == "eight")
        #expect(try c.get(CacheKey([0x37]))?.text == "bytes")
        #expect(try c.get("7")?.text == "text")
        #expect(CacheKey(exactly: UInt64.max) == nil)
        #expect(CacheKey(exactly: UInt8(3)) == 3)
        // Keys as stored come back with their kinds and print readably.
        let keys = try c.keys()
        #expect(keys.map(\.description) == ["user:42", "7", "8", "bytes(37)", "7"])
        #expect(keys.map(\.debugDescription) == ["\"user:42\"", "7", "8", "bytes(37)", "\"7\""])
        #expect(CacheKey([0xde, 0xad, 0x01]).description == "bytes(de ad 01)")
        #expect(CacheKey.float(1.5).description == "1.5")
        #expect("a\"b".description == "a\"b")
        #expect(CacheKey("a\"b").debugDescription == "\"a\\\"b\"")
    }

    @Test func expiryTimesAndDurations() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, timeout: .milliseconds(250))
        #expect(c.lockTimeout == .milliseconds(250))
        c.lockTimeout = .seconds(2)
        #expect(c.lockTimeout == .seconds(2))
        let at = ExpiryTime.after(.seconds(60))
        try c.set("a", text: "x", expires: at)
        let stored = try #require(try c.get("a")?.expires)
        #expect(abs(stored.secondsSince1970 - at.secondsSince1970) < 1e-6)
        #expect(stored.remaining > .seconds(50) && !stored.isPast)
        try c.set("b", int: 1, ttl: .seconds(60))
        #expect(try c.get("b")?.expires?.remaining ?? .zero > .seconds(50))
        #expect(try c.touch("b", expires: .now.advanced(by: .seconds(-1))))
        #expect(try c.get("b") == nil)
        #expect(try c.expire(asOf: .after(.seconds(120))) == 2)
        #expect(try c.count() == 0)
        #expect(ExpiryTime(secondsSince1970: 0).description == "1970-01-01T00:00:00.000Z")
        #expect(ExpiryTime(secondsSince1970: 1_764_519_600.25).description == "2025-11-30T16:20:00.250Z")
        #expect(ExpiryTime(secondsSince1970: -946_728_000.5).description == "1940-01-01T11:59:59.500Z")
    }

    @Test func unknownSettingNamesAreRejectedAndNothingIsStored() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        #expect {
            _ = try DiskCache(directory: dir, settings: ["size_limt": .int(5), SettingName.cullLimit: .int(3)])
        } throws: { e in
            (e as? DiskCacheError)?.code == .invalidArgument && "\(e)".contains("'size_limt'")
        }
        let c = try DiskCache(directory: dir)
        #expect(try c.setting("size_limt") == nil)
        #expect(try c.setting(SettingName.cullLimit) == .int(10))
        #expect {
            try c.updateSetting("eviction_polcy", .text("none"))
        } throws: { e in
            (e as? DiskCacheError)?.code == .invalidArgument && "\(e)".contains("'eviction_polcy'")
        }
        #expect(try c.allSettings()["eviction_polcy"] == nil)
        // python-diskcache keeps any name: so does a cache opened with its leniency.
        let lenient = try DiskCache(directory: dir, settings: ["sqlite_mmap_size": .int(1)], leniency: .pythonDiskcache)
        try lenient.updateSetting("custom", .text("v"))
        #expect(try lenient.setting("sqlite_mmap_size") == .int(1))
        #expect(try lenient.setting("custom") == .text("v"))
    }

    @Test func useAfterCloseThrows() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set("a", int: 1)
        try c.close()
        func isClosed(_ body: () throws -> Void) -> Bool {
            do { try body() } catch let e as DiskCacheError { return e.code == .closed } catch {}
            return false
        }
        #expect(isClosed { _ = try c.get("a") })
        #expect(isClosed { try c.set("b", int: 2) })
        #expect(isClosed { _ = try c.count() })
        #expect(isClosed { try c.transact { } })
        try c.close()   // again: nothing to do
        #expect(try DiskCache(directory: dir).count() == 1, "the refused set stored nothing")
        // python-diskcache reopens: a lenient cache does too.
        let lenient = try DiskCache(directory: dir, leniency: .reopenAfterClose)
        try lenient.close()
        #expect(try lenient.get("a")?.int == 1)
    }
}
