import Foundation
import Testing
@testable import DiskCache

@Suite(.serialized) struct FaultTests {
    /// A writer (sets, deletes, transactions, incr, compaction, large values) is killed at
    /// random moments, many times; after each kill the cache opens, every value read is intact,
    /// and `check(fix:)` leaves it clean.
    @Test func sigkillAtRandomMoments() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        var rng = SystemRandomNumberGenerator()
        var lastCounter: Int64 = 0
        for round in 0..<25 {
            let child = try startChild(["writeloop", dir, "\(round)"])
            usleep(UInt32.random(in: 20_000...150_000, using: &rng))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            #expect(try runChild(["verify", dir]) == 0, "round \(round)")
            let c = try DiskCache(directory: dir)
            // The counter only grows: an acknowledged incr is never lost.
            let counter = try c.get("counter")?.int ?? 0
            #expect(counter >= lastCounter, "round \(round)")
            lastCounter = counter
            // Transactions are all-or-nothing: tx0..tx2 always hold the same value.
            let tx = try (0..<3).map { try c.get(.text("tx\($0)"))?.value }
            #expect(tx[0] == tx[1] && tx[1] == tx[2], "round \(round)")
            _ = try c.check(fix: true)
            let after = try c.check()
            #expect(after.isEmpty, "round \(round): \(after)")
        }
    }

    /// Random bytes of the log and of value files are flipped: damaged items read as misses,
    /// never as wrong data; `check` names the damage and `check(fix: true)` removes it.
    @Test func bitRotIsDetectedNotServed() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        var expected: [String: [UInt8]] = [:]
        do {
            let c = try DiskCache(directory: dir, minFileSize: 4000)
            for i in 0..<300 {
                let v = (0..<(i % 10 == 0 ? 6000 : 200)).map { UInt8(truncatingIfNeeded: $0 &+ i) }
                try c.set(.text("k\(i)"), bytes: v)
                expected["k\(i)"] = v
            }
        }
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir).filter { $0.hasSuffix(".dcl") || $0.hasSuffix(".val") }
        var rng = SystemRandomNumberGenerator()
        for f in files {
            let path = dir + "/" + f
            var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let flips = f.hasSuffix(".dcl") ? 20 : 1
            for _ in 0..<flips { data[Int.random(in: 0..<data.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
            try Data(data).write(to: URL(fileURLWithPath: path))
        }
        let c = try DiskCache(directory: dir)
        var served = 0
        for (k, v) in expected {
            if let got = try c.get(.text(k)) {
                #expect(got.value == v, "wrong data served for \(k)")
                served += 1
            }
        }
        #expect(served > 200, "most items survive scattered damage (\(served))")
        let findings = try c.check()
        #expect(!findings.isEmpty)
        _ = try c.check(fix: true)
        let after = try c.check()
        #expect(after.isEmpty, "\(after)")
        for (k, v) in expected {
            if let got = try c.get(.text(k)) { #expect(got.value == v) }
        }
    }

    @Test func tornTailIsIgnoredOnOpen() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<10 { try c.set(.text("k\(i)"), int: Int64(i)) }
        }
        let seg = try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".dcl") }!
        let h = FileHandle(forWritingAtPath: dir + "/" + seg)!
        h.seekToEndOfFile()
        h.write(Data([0x44, 0x43, 0x52, 0x31, 1, 2, 3, 4, 200, 0, 0, 0, 1, 0]))   // a torn record
        h.closeFile()
        // The control page no longer matches: force the open path to rescan.
        try FileManager.default.removeItem(atPath: dir + "/control")
        let c = try DiskCache(directory: dir)
        #expect(try c.count() == 10)
        try c.set("after", int: 1)
        #expect(try DiskCache(directory: dir).get("after")?.int == 1)
        #expect(try c.check().isEmpty)
    }

    @Test func pathThatIsAFileIsAClearError() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let file = dir + "/plain"
        _ = FileManager.default.createFile(atPath: file, contents: Data([1]))
        do {
            _ = try DiskCache(directory: file)
            Issue.record("opened a file as a cache")
        } catch let e as DiskCacheError {
            #expect(e.code == .notADirectory)
            #expect(e.message.contains(file))
        }
    }

    @Test func directoryDeletedUnderneathIsAnError() throws {
        let dir = makeTempDirectory()
        let c = try DiskCache(directory: dir + "/cache")
        try c.set("a", int: 1)
        removeDirectory(dir)
        // Reads still work from the open files; writes either land in the unlinked log or fail
        // with an error naming the path; nothing crashes.
        _ = try? c.get("a")
        do { try c.set("b", int: 2) } catch let e as DiskCacheError { #expect(e.message.contains(dir)) }
        try c.close()
        // Reopening recreates an empty cache.
        #expect(try DiskCache(directory: dir + "/cache").get("a") == nil)
        removeDirectory(dir)
    }

    /// A full disk (a 1 MiB tmpfs) fails writes with a clear error, loses nothing acknowledged,
    /// and the cache stays readable. Needs root to mount; skipped otherwise.
    @Test(.enabled(if: getuid() == 0)) func fullDiskFailsCleanly() throws {
        let mnt = makeTempDirectory("dcfull")
        defer { _ = umount(mnt); removeDirectory(mnt) }
        guard mount("tmpfs", mnt, "tmpfs", 0, "size=1m") == 0 else {
            Issue.record("could not mount tmpfs: errno \(errno)")
            return
        }
        let c = try DiskCache(directory: mnt + "/cache")
        var stored = 0
        var failure: DiskCacheError?
        for i in 0..<10_000 {
            do {
                try c.set(.text("k\(i)"), bytes: [UInt8](repeating: UInt8(i & 255), count: 700))
                stored = i + 1
            } catch let e as DiskCacheError {
                failure = e
                break
            }
        }
        let e = try #require(failure)
        #expect(e.errno == .noSpace, "\(e)")
        #expect(e.message.contains(mnt))
        for i in 0..<stored {
            #expect(try c.get(.text("k\(i)"))?.value.first == UInt8(i & 255))
        }
        let reopened = try DiskCache(directory: mnt + "/cache")
        #expect(try reopened.count() == stored)
        #expect(try reopened.delete("k0"), "deletes still work when space is freed by truncation")
    }
}
