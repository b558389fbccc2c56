import Foundation
import Testing
@testable import DiskCache

@Suite(.serialized) struct MultiProcessTests {
    @Test func fourProcessesIncrementExactly() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        _ = try DiskCache(directory: dir)
        let children = try (0..<4).map { _ in try startChild(["incr", dir, "counter", "10000"]) }
        for c in children {
            c.waitUntilExit()
            #expect(c.terminationStatus == 0)
        }
        #expect(try DiskCache(directory: dir).get("counter")?.int == 40_000)
    }

    @Test func readersSeeWritersImmediately() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let reader = try DiskCache(directory: dir)
        _ = try reader.get("a0")   // index loaded before the writers start
        let writers = try (0..<3).map { i in try startChild(["set", dir, "w\(i)-", "2000"]) }
        for w in writers { w.waitUntilExit(); #expect(w.terminationStatus == 0) }
        // Every acknowledged write is visible to the next read here, without reopening.
        for i in 0..<3 {
            for j in stride(from: 0, to: 2000, by: 37) {
                #expect(try reader.get(.text("w\(i)-\(j)"))?.text == "w\(i)-\(j)")
            }
        }
        #expect(try reader.count() == 6000)
    }

    @Test func concurrentWritersWithCompactionKeepValuesIntact() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let children = try (0..<3).map { i in try startChild(["writeloop", dir, "\(i + 11)"]) }
        usleep(1_500_000)
        for c in children { kill(c.processIdentifier, SIGKILL) }
        for c in children { c.waitUntilExit() }
        #expect(try runChild(["verify", dir]) == 0)
        let c = try DiskCache(directory: dir)
        let findings = try c.check(fix: true)
        #expect(findings.allSatisfy { $0.kind == .unknownFile || $0.kind == .emptyDirectory }, "\(findings)")
        #expect(try c.check().isEmpty)
    }

    @Test func threadsShareOneCache() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        let threads = 4, perThread = 2000
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                try! c.set(.text("t\(t)-\(i)"), int: Int64(i))
                try! c.incr("shared")
                _ = try! c.get(.text("t\(t)-\(i / 2)"))
            }
        }
        #expect(try c.get("shared")?.int == Int64(threads * perThread))
        #expect(try c.count() == threads * perThread + 1)
    }

    @Test func forkedChildUsesItsOwnLock() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir)
        try c.set("before", int: 1)
        // A child that inherits the open cache must lock on its own: both sides increment.
        let pid = fork()
        if pid == 0 {
            var ok = true
            for _ in 0..<2000 { if (try? c.incr("n")) == nil { ok = false } }
            if (try? c.get("before"))??.int != 1 { ok = false }
            _exit(ok ? 0 : 1)
        }
        for _ in 0..<2000 { try c.incr("n") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status == 0)
        #expect(try c.get("n")?.int == 4000)
    }
}
