import Foundation
import Synchronization
import Testing
@testable import DiskCache
import DiskCacheKit

/// A counter or flag tasks share.
final class SharedCount: Sendable {
    let value = Atomic<Int>(0)
    func add() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Threads of the test's own as the executor of a test's tasks: stands for the cooperative
/// pool (as few threads), without sharing it with other tests that run meanwhile and block it.
final class ThreadsExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init(threads: Int) {
        for _ in 0..<threads { Thread { [self] in work() }.start() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        condition.lock()
        while true {
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty { break }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
            condition.lock()
        }
        condition.unlock()
    }
}

@Suite(.serialized) struct AsyncDiskCacheTests {
    struct User: Codable, Sendable, Equatable {
        var name: String
        var age: Int
    }

    /// Tasks awaiting writes while another process holds the lock do not occupy the
    /// cooperative pool: a heartbeat keeps ticking. The tasks run on two threads of their own
    /// (as the pool on a 2-core machine), and there are more writers than threads, so writes
    /// that blocked their threads would stop it.
    @Test func heartbeatKeepsTickingWhileWritesWaitForAnotherProcess() async throws {
        let executor = ThreadsExecutor(threads: 2)
        defer { executor.stop() }
        try await withTaskExecutorPreference(executor) { try await heartbeatWhileWritesWait(executor) }
    }

    func heartbeatWhileWritesWait(_ executor: ThreadsExecutor) async throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let cache = try AsyncDiskCache(directory: dir)
        try await cache.set(User(name: "before", age: 1), forKey: "warm")
        let holder = try startLockHolder(dir, seconds: 1)
        defer { holder.waitUntilExit() }
        let writersDone = SharedCount()
        let heartbeat = Task(executorPreference: executor) { () async throws -> (Int, Double) in
            var ticks = 0
            var maxGap = 0.0
            var last = ContinuousClock.now
            while writersDone.count == 0 {
                // Not Task.sleep: its timer fires through Dispatch's shared threads, which other
                // tests running meanwhile keep busy. A short sleep of this thread (our own
                // executor's), then a yield, which needs a free executor thread to come back.
                usleep(2000)
                await Task.yield()
                let now = ContinuousClock.now
                maxGap = max(maxGap, (now - last) / .seconds(1))
                last = now
                ticks += 1
            }
            return (ticks, maxGap)
        }
        let writers = 8
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<writers {
                group.addTask { try await cache.set(User(name: "w\(i)", age: i), forKey: "user:\(i)") }
            }
            try await group.waitForAll()
        }
        writersDone.add()
        let (ticks, maxGap) = try await heartbeat.value
        print("heartbeat: \(ticks) ticks while \(writers) writes waited ~1 s; longest gap \(Int(maxGap * 1000)) ms")
        #expect(ticks >= 20, "the heartbeat stalled: \(ticks) ticks, longest gap \(maxGap) s")
        for i in 0..<writers {
            #expect(try await cache.get("user:\(i)", as: User.self) == User(name: "w\(i)", age: i))
        }
    }

    @Test func codableValuesRoundTripWithTTLAndAdd() async throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let cache = try AsyncDiskCache(directory: dir)
        let id = 42
        try await cache.set(User(name: "Ada", age: 36), forKey: "user:\(id)", ttl: .seconds(60))
        #expect(try await cache.get("user:42", as: User.self) == User(name: "Ada", age: 36))
        #expect(try await cache.get("user:43", as: User.self) == nil)
        // JSON is stored as text (readable from Python as a str).
        #expect(try cache.cache.get("user:42")?.kind == .text)
        let expire = try #require(try cache.cache.get("user:42")?.expireTime)
        #expect(expire > ExpiryTime.now.secondsSince1970 + 50)
        #expect(try await cache.add(User(name: "Bob", age: 1), forKey: "user:42") == false)
        #expect(try await cache.add(User(name: "Bob", age: 1), forKey: "user:44"))
        #expect(try await cache.get("user:44", as: User.self)?.name == "Bob")
        // Expired: gone.
        try await cache.set(1, forKey: "short", ttl: .milliseconds(1))
        try await Task.sleep(for: .milliseconds(20))
        #expect(try await cache.get("short", as: Int.self) == nil)
        #expect(try await cache.remove("user:44"))
        #expect(try await cache.remove("user:44") == false)
        #expect(try await cache.incr("n", by: 5) == 5)
        // Decoding as the wrong type fails loudly.
        await #expect(throws: DecodingError.self) { try await cache.get("user:42", as: [Int].self) }
    }

    /// A coder of one's own: here, a UTF-8 string only.
    struct TextCoder: CacheCoder {
        var kind: ItemKind { .blob }
        func encode<T: Encodable>(_ value: T) throws -> Data { Data(("raw:" + (value as! String)).utf8) }
        func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
            String(decoding: bytes, as: UTF8.self) as! T
        }
    }

    @Test func pluggableCoder() async throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let cache = AsyncDiskCache(try DiskCache(directory: dir), coder: TextCoder())
        try await cache.set("x", forKey: "k")
        #expect(try await cache.bytes("k") == Array("raw:x".utf8))
        #expect(try await cache.get("k", as: String.self) == "raw:x")
    }

    @Test func rawBytesFromAnyCollection() async throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let cache = AsyncDiskCache(try DiskCache(directory: dir, minFileSize: 1000))
        try await cache.setBytes([1, 2, 3] as [UInt8], forKey: "array")
        try await cache.setBytes([0, 1, 2, 3, 4][1...3], forKey: "slice")
        try await cache.setBytes(Data([9, 8]), forKey: "data")
        try await cache.setBytes(repeatElement(UInt8(7), count: 3), forKey: "repeated")
        try await cache.setBytes([UInt8](repeating: 5, count: 5000), forKey: "file")
        #expect(try await cache.bytes("array") == [1, 2, 3])
        #expect(try await cache.bytes("slice") == [1, 2, 3])
        #expect(try await cache.bytes("data") == [9, 8])
        #expect(try await cache.bytes("repeated") == [7, 7, 7])
        #expect(try await cache.bytes("file")?.count == 5000)
        #expect(try await cache.bytes("missing") == nil)
        #expect(try await cache.withItem("array") { $0.value.reduce(0) { $0 + Int($1) } } == 6)
        #expect(try await cache.withItem("file") { $0.value.count } == 5000)
        #expect(try await cache.withItem("missing") { $0.value.count } == nil)
    }

    @Test func concurrentCallersOfOneKeyComputeOnce() async throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let cache = try AsyncDiskCache(directory: dir)
        let computed = SharedCount()
        let results = try await withThrowingTaskGroup(of: User.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await cache.value(forKey: "expensive", ttl: .seconds(60)) {
                        computed.add()
                        try await Task.sleep(for: .milliseconds(100))
                        return User(name: "computed", age: 1)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(computed.count == 1)
        #expect(results.count == 50 && results.allSatisfy { $0 == User(name: "computed", age: 1) })
        #expect(try await cache.get("expensive", as: User.self)?.name == "computed")

        // An error reaches every waiter and nothing is stored; the next call computes again.
        struct Failure: Error {}
        let failures = SharedCount()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do {
                        _ = try await cache.value(forKey: "failing") { () async throws -> Int in
                            try await Task.sleep(for: .milliseconds(100))
                            throw Failure()
                        }
                    } catch is Failure {
                        failures.add()
                    } catch {}
                }
            }
        }
        #expect(failures.count == 10)
        #expect(try await cache.contains("failing") == false)
        #expect(try await cache.value(forKey: "failing") { 7 } == 7)
    }
}
