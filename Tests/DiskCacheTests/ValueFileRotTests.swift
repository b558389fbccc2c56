import Foundation
import Testing
@testable import DiskCache

/// Bit rot and other damage to value files (`ab/cd/….val`), one kind per file: a flipped
/// byte, a truncation, a deletion, bytes appended. Each damaged item reads as a miss (never
/// wrong data), `check` names its file, `check(fix: true)` removes the item and its file, and
/// the untouched items are served as before.
@Suite struct ValueFileRotTests {
    @Test func damagedValueFilesAreMissesNamedAndRemoved() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 1000)
        var expected: [String: [UInt8]] = [:]
        for i in 0..<10 {
            let v = (0..<(3000 + i)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            try c.set(.text("big\(i)"), bytes: v)
            expected["big\(i)"] = v
        }
        for i in 0..<5 {
            try c.set(.text("small\(i)"), bytes: [UInt8(i)])
            expected["small\(i)"] = [UInt8(i)]
        }
        func path(_ key: String) throws -> String {
            let found: String?? = try StoredKey.text(key).withRef { k in
                try c.withItem(k, readFile: { _ in false }) { $0.filePath }
            }
            return try #require(found ?? nil)
        }
        let flipped = try path("big1"), truncated = try path("big3"), deleted = try path("big5"), grown = try path("big7")
        #expect(flipped.hasPrefix(dir + "/") && flipped.hasSuffix(".val"))

        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: flipped)))
        data[1234] ^= 0x10
        try Data(data).write(to: URL(fileURLWithPath: flipped))
        #expect(truncate(truncated, 1500) == 0)
        try FileManager.default.removeItem(atPath: deleted)
        let h = try #require(FileHandle(forWritingAtPath: grown))
        h.seekToEndOfFile()
        h.write(Data([1, 2, 3]))
        h.closeFile()
        let damaged: Set<String> = ["big1", "big3", "big5", "big7"]

        // Reads: misses for the damaged, exact values for the rest (this process and a new one).
        for cache in [c, try DiskCache(directory: dir)] {
            for (k, v) in expected {
                let got = try cache.get(.text(k))
                if damaged.contains(k) {
                    #expect(got == nil, "damaged \(k) served")
                } else {
                    #expect(got?.value == v, "\(k)")
                }
            }
        }

        // check names each damaged file, and only those.
        let findings = try c.check()
        let valueFindings = findings.filter { $0.kind == .damagedValueFile }
        #expect(valueFindings.count == 4, "\(findings)")
        for p in [flipped, truncated, deleted, grown] {
            #expect(valueFindings.contains { $0.message.contains(p) }, "no finding names \(p): \(findings)")
        }
        #expect(findings.allSatisfy { !$0.fixed })
        #expect(try c.count() == expected.count, "check without fix changes nothing")

        // check(fix: true) removes the damaged items and their files.
        let fixed = try c.check(fix: true)
        #expect(fixed.filter { $0.kind == .damagedValueFile }.count == 4)
        #expect(fixed.allSatisfy { $0.fixed })
        #expect(try c.check().isEmpty)
        #expect(try c.count() == expected.count - 4)
        for p in [flipped, truncated, grown] {
            #expect(!FileManager.default.fileExists(atPath: p), "\(p) left behind")
        }
        let reopened = try DiskCache(directory: dir)
        for (k, v) in expected where !damaged.contains(k) {
            #expect(try reopened.get(.text(k))?.value == v)
        }
        for k in damaged { #expect(try reopened.contains(.text(k)) == false) }
        // The keys can be stored again.
        try reopened.set("big1", bytes: [UInt8](repeating: 9, count: 5000))
        #expect(try c.get("big1")?.value == [UInt8](repeating: 9, count: 5000))
        #expect(try reopened.check().isEmpty)
    }
}
