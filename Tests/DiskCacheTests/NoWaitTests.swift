import Foundation
import Testing
@testable import DiskCache

/// "Attempt without waiting" (`DiskCache.withoutWaiting`): an operation that would wait throws
/// `.wouldBlock` before any effect; uncontended ones succeed without entering a wait.
@Suite(.serialized) struct NoWaitTests {
    func isWouldBlock(_ body: () throws -> Void) -> Bool {
        do { try body() } catch let e as DiskCacheError { return e.code == .wouldBlock } catch {}
        return false
    }

    @Test func uncontendedGetAndSetSucceedWithoutWaiting() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        let waits = NoWait.unrefusedWaits
        try c.withoutWaiting {
            #expect(DiskCache.isWithoutWaiting)
            try c.set("a", bytes: bytes("one"))
            #expect(try c.get("a")?.value == bytes("one"))
            #expect(try c.incr("n", by: 2) == 2)
            #expect(try c.delete("a"))
            #expect(try c.get("a") == nil)
        }
        #expect(!DiskCache.isWithoutWaiting)
        #expect(NoWait.unrefusedWaits == waits)
    }

    @Test func setThrowsWouldBlockWhileAnotherProcessHoldsTheLock() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set("kept", int: 7)
        let holder = try startLockHolder(dir, seconds: 30)
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let waits = NoWait.unrefusedWaits
        let started = monotonicClock()
        #expect(isWouldBlock { try c.withoutWaiting { try c.set("new", int: 1) } })
        #expect(isWouldBlock { try c.withoutWaiting { try c.set("kept", int: 8) } })
        #expect(isWouldBlock { try c.withoutWaiting { _ = try c.delete("kept") } })
        // At once: not after the lock's timeout (none is set: a normal set would wait 30 s).
        #expect(monotonicClock() - started < 5)
        // Reads need no lock.
        #expect(try c.withoutWaiting { try c.get("kept")?.int } == 7)
        #expect(NoWait.unrefusedWaits == waits)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        // Unchanged, as seen by this process and by a fresh one.
        #expect(try c.get("new") == nil)
        #expect(try c.get("kept")?.int == 7)
        let fresh = try DiskCache(directory: dir)
        #expect(try fresh.count() == 1)
        #expect(try fresh.get("kept")?.int == 7)
    }

    @Test func anotherThreadsTransactionRefusesWritesAndUnbuiltViewReads() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set("a", int: 1)
        let inside = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let t = Thread {
            try! c.transact {
                try c.set("a", int: 2)
                inside.signal()
                done.wait()
            }
        }
        t.start()
        inside.wait()
        let waits = NoWait.unrefusedWaits
        #expect(isWouldBlock { try c.withoutWaiting { try c.set("b", int: 1) } })
        // The published view is built by a read that may wait; once built it serves at once.
        #expect(isWouldBlock { try c.withoutWaiting { _ = try c.get("a") } })
        #expect(NoWait.unrefusedWaits == waits)
        #expect(try c.get("a")?.int == 1)
        #expect(try c.withoutWaiting { try c.get("a")?.int } == 1)
        done.signal()
        while !t.isFinished { usleep(1000) }
        #expect(try c.get("b") == nil)
        #expect(try c.get("a")?.int == 2)
    }

    @Test func waitsAfterAnEffectAreRefusedUpFront() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 1000)
        let waits = NoWait.unrefusedWaits
        // A large value goes to a file: refused before the file is written.
        #expect(isWouldBlock { try c.withoutWaiting { try c.set("big", bytes: [UInt8](repeating: 1, count: 5000)) } })
        #expect(try c.count() == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { $0.count > 2 }, "no value directory made")
        #expect(isWouldBlock { try c.withoutWaiting { try c.transact { try c.set("t", int: 1) } } })
        #expect(isWouldBlock { try c.withoutWaiting { try c.compact() } })
        #expect(isWouldBlock { try c.withoutWaiting { try c.close() } })
        try c.set("big", bytes: [UInt8](repeating: 1, count: 5000))
        #expect(isWouldBlock { try c.withoutWaiting { _ = try c.get("big") } })
        try c.updateSetting(SettingName.durability, .text("sync"))
        #expect(isWouldBlock { try c.withoutWaiting { try c.set("s", int: 1) } })
        #expect(NoWait.unrefusedWaits == waits)
        #expect(try c.count() == 1)
        #expect(try c.get("big")?.value.count == 5000)
    }

    @Test func pullAndPeekitemPastExpiredItemsToAValueFileRefuseBeforeRemovingThem() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 1000)
        try c.updateSetting(SettingName.cullLimit, .int(0))   // writes leave expired items alone
        let past = wallClock() - 10
        for n in 0..<3 {
            _ = try [UInt8(n)].withUnsafeBytes { try c.push(prefix: "q", side: .back, kind: .blob, value: $0, expireTime: past) }
        }
        _ = try c.push([UInt8](repeating: 7, count: 5000), prefix: "q")
        let waits = NoWait.unrefusedWaits
        #expect(isWouldBlock { try c.withoutWaiting { _ = try c.pull(prefix: "q") } })
        #expect(isWouldBlock { try c.withoutWaiting { _ = try c.peekItem(last: false) { k, _ in k } } })
        #expect(NoWait.unrefusedWaits == waits, "refused before the expired items were removed")
        #expect(try c.count() == 4)
        #expect(try c.pull(prefix: "q")?.1.value.count == 5000)
        #expect(try c.count() == 0, "the expired items went with the pull")
        // No file at the end of the walk: in the mode, the expired items go and the live one comes.
        for n in 0..<3 {
            _ = try [UInt8(n)].withUnsafeBytes { try c.push(prefix: "r", side: .back, kind: .blob, value: $0, expireTime: past) }
        }
        _ = try c.push([42], prefix: "r")
        #expect(try c.withoutWaiting { try c.pull(prefix: "r")?.1.value } == [42])
        #expect(NoWait.unrefusedWaits == waits)
        #expect(try c.count() == 0)
    }

    @Test func valueFilesLetGoOfAreRemovedLater() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 1000)
        try c.set("big", bytes: [UInt8](repeating: 1, count: 5000))
        let file = try #require(try StoredKey.text("big").withRef { k in try c.withItem(k, readFile: { _ in false }) { $0.filePath } } ?? nil)
        let waits = NoWait.unrefusedWaits
        try c.withoutWaiting { try c.set("big", int: 1) }
        #expect(NoWait.unrefusedWaits == waits)
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(c.hasDeferredWork)
        try c.performDeferredWork()
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(!c.hasDeferredWork)
        #expect(try c.get("big")?.int == 1)
    }

    @Test func smallCatchUpIsNotAWait() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        _ = try c.get("x")
        #expect(try runChild(["set", dir, "k", "20"]) == 0)
        let waits = NoWait.unrefusedWaits
        #expect(try c.withoutWaiting { try c.get("k7")?.text } == "k7")
        #expect(NoWait.unrefusedWaits == waits)
    }
}
