import Foundation
import Testing
@testable import DiskCache

/// Reads from many threads run at once (shared lock), writes still get their turn, and a
/// read's closure cannot deadlock the cache.
@Suite struct ConcurrentReadTests {
    /// A read whose closure is still running does not keep another thread's read waiting (with
    /// one cache-wide mutex it did, until the first read ended).
    @Test func aReadDoesNotWaitForAnotherThreadsRead() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set("a", int: 1)
        try c.set("b", int: 2)
        let inside = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), secondDone = DispatchSemaphore(value: 0)
        let first = Thread {
            _ = try! StoredKey("a").withRef { k in
                try c.withItem(k) { _ in
                    inside.signal()
                    release.wait()
                }
            }
        }
        first.start()
        inside.wait()
        Thread {
            #expect(try! c.get("b")?.int == 2)
            #expect(try! c.contains("a"))
            #expect(try! c.count() == 2)
            secondDone.signal()
        }.start()
        let finished = secondDone.wait(timeout: .now() + 10) == .success
        release.signal()
        if !finished { secondDone.wait() }
        #expect(finished, "the second read waited for the first one's closure")
        while !first.isFinished { usleep(1000) }
    }

    /// A write or a transaction waiting for another process's lock does not hold this
    /// process's reads up (each waited holding the state lock, so every read waited as long).
    @Test(arguments: ["set", "transaction"])
    func readsGoOnWhileAWriterWaitsForAnotherProcess(_ write: String) throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set("a", int: 1)
        let holder = try startLockHolder(dir, seconds: 30)
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let writeStarted = DispatchSemaphore(value: 0), writeDone = DispatchSemaphore(value: 0), readDone = DispatchSemaphore(value: 0)
        Thread {
            writeStarted.signal()
            if write == "set" {
                try! c.set("b", int: 2)
            } else {
                try! c.transact { try c.set("b", int: 2) }
            }
            writeDone.signal()
        }.start()
        writeStarted.wait()
        usleep(100_000)   // the writer is waiting for the child's lock by now
        Thread {
            #expect(try! c.get("a")?.int == 1)
            #expect(try! c.get("b") == nil)
            readDone.signal()
        }.start()
        let finished = readDone.wait(timeout: .now() + 10) == .success
        kill(holder.processIdentifier, SIGKILL)
        writeDone.wait()
        if !finished { readDone.wait() }
        #expect(finished, "the read waited for the writer")
        #expect(try c.get("b")?.int == 2)
    }

    /// Readers that never pause do not starve a writer, and every read sees a whole value.
    @Test func writesProceedWhileManyThreadsRead() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        for i in 0..<100 { try c.set(.text("k\(i)"), bytes: [UInt8](repeating: UInt8(i), count: 64)) }
        let stop = DispatchSemaphore(value: 0)
        final class Flag: @unchecked Sendable { var stop = false; var torn = 0; let lock = NSLock() }
        let flag = Flag()
        let readers = (0..<4).map { t in
            Thread {
                var i = t
                while true {
                    flag.lock.lock(); let done = flag.stop; flag.lock.unlock()
                    if done { break }
                    i = (i + 7) % 100
                    if let v = try! c.get(.text("k\(i)"))?.value, Set(v).count != 1 || v.count != 64 {
                        flag.lock.lock(); flag.torn += 1; flag.lock.unlock()
                    }
                }
                stop.signal()
            }
        }
        readers.forEach { $0.start() }
        for round in 0..<300 {
            let i = round % 100
            try c.set(.text("k\(i)"), bytes: [UInt8](repeating: UInt8(truncatingIfNeeded: round), count: 64))
        }
        flag.lock.lock(); flag.stop = true; flag.lock.unlock()
        for _ in readers { stop.wait() }
        #expect(flag.torn == 0)
        #expect(try c.get("k99")?.value == [UInt8](repeating: UInt8(299 % 256), count: 64))
    }

    /// A read nested in a read of the same cache runs; a write from inside a read throws
    /// (with a shared lock it would deadlock; the recursive mutex used to allow it).
    @Test func nestedReadRunsAndWriteInsideAReadThrows() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set("a", int: 1)
        let inner = try StoredKey("a").withRef { k in
            try c.withItem(k) { _ -> Int64? in
                #expect(throws: DiskCacheError.self) { try c.set("b", int: 2) }
                return try c.get("a")?.int
            }
        }
        #expect(inner == 1)
        #expect(try c.get("b") == nil)
        try c.set("b", int: 2)
        #expect(try c.get("b")?.int == 2)
    }

    /// Statistics counted by reads running at once are all there.
    @Test func statisticsCountEveryConcurrentRead() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, statistics: true)
        try c.set("hit", int: 1)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<2000 {
                _ = try! c.get("hit")
                _ = try! c.get("miss")
            }
        }
        let (hits, misses) = try c.stats()
        #expect(hits == 8000 && misses == 8000)
    }
}
