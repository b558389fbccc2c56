import Foundation

/// Threads of our own for cache work that may block (lock waits, `fsync`, value files,
/// network-mode I/O), so that it never occupies a thread of Swift's cooperative pool, whose
/// few threads (one per core) every task of the process shares.
///
/// Threads are started on demand when every existing one is busy, up to a limit, and end after
/// a while without work. Not Dispatch: the engine's users fork, and a plain thread per blocking
/// job is what a blocking job needs.
final class BlockingPool: @unchecked Sendable {
    /// The pool `AsyncDiskCache` uses.
    static let shared = BlockingPool(maxThreads: 64, idleTimeout: 10)

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    private let maxThreads: Int
    private let idleTimeout: TimeInterval

    init(maxThreads: Int, idleTimeout: TimeInterval) {
        self.maxThreads = maxThreads
        self.idleTimeout = idleTimeout
    }

    /// Runs `job` on a pool thread.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        // A job waiting behind one that blocks would wait as long: every queued job gets a
        // thread while the limit allows.
        let start = jobs.count - head > idle && threads < maxThreads
        if start { threads += 1 }
        condition.signal()
        condition.unlock()
        if start {
            let thread = Thread { [self] in work() }
            thread.name = "DiskCacheKit blocking"
            thread.start()
        }
    }

    /// Runs `body` on a pool thread and returns its result to the awaiting task.
    func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }

    private func work() {
        condition.lock()
        while true {
            idle += 1
            var timedOut = false
            while head == jobs.count && !timedOut {
                timedOut = !condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
            }
            idle -= 1
            if head == jobs.count {
                threads -= 1
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job()
            condition.lock()
        }
    }
}
