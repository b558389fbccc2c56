/// How every operation runs: reads against an index brought up to date, writes under the
/// writer slot and the cross-process lock, committed or rolled back as a whole.
extension DiskCache {
    /// Reopens per-process state after fork or close. Called with `mutex` held.
    @inline(__always)
    func prepare() throws {
        if log == nil {
            try NoWait.refuse("opening the cache")
            try open()
        }
        // Network mode: every operation's first step (polling for news) is network I/O.
        if log!.isNetwork { try NoWait.refuse("network-mode I/O") }
    }

    /// Runs a read: index brought up to date with the published head first.
    @inline(__always)
    func withReading<R>(_ body: () throws -> R) throws -> R {
        try checkFork()
        try mutex.lockUnlessRefused()
        defer { mutex.unlock() }
        try prepare()
        if !holdsExclusive {
            try catchUp()
        } else if readsPublishedView {
            return try withPublishedView(body)
        }
        return try body()
    }

    /// Runs a write: exclusive lock, index current, records appended, committed on success,
    /// rolled back on error. Inside a transaction it joins the transaction.
    @inline(__always)
    func withWriting<R>(_ body: () throws -> R) throws -> R {
        try checkFork()
        let deadline = try enterWriter()
        defer { writer.release() }
        try mutex.lockUnlessRefused()
        defer { mutex.unlock() }
        try prepare()
        if holdsExclusive { return try body() }
        try acquireExclusive(deadline)
        defer { releaseExclusive() }
        if NoWait.isActive && settings.durability == .sync { throw NoWait.error("fsync for durability 'sync'") }
        do {
            let r = try body()
            try commitPending()
            return r
        } catch let e as DiskCacheError where e.code == .wouldBlock && pending.isEmpty && removeOnRollback.isEmpty {
            // Refused before appending anything: the index is as it was (rebuilding it would wait).
            throw e
        } catch {
            rollbackPending()
            throw error
        }
    }

    /// Takes the writer slot, waiting at most the lock timeout; returns the deadline the rest
    /// of the write's waiting (for other processes) must keep.
    func enterWriter() throws -> Double? {
        if NoWait.isActive {
            guard writer.tryAcquire() else { throw NoWait.error("another thread is writing") }
            return nil
        }
        let deadline = writer.deadline()
        guard writer.acquire(deadline: deadline) else {
            throw DiskCacheError(.timeout, "Timed out after \(writer.timeout ?? 0) s waiting for another thread's write to the cache at '\(directory)'")
        }
        return deadline
    }

    func acquireExclusive(_ deadline: Double?) throws {
        let log = try openLog()
        if NoWait.isActive {
            guard try log.writers.tryLock() else { throw NoWait.error("another process is writing") }
        } else {
            try log.writers.lock(timeout: deadline.map { max(0, $0 - monotonicClock()) })
        }
        holdsExclusive = true
        do {
            if NoWait.isActive && log.needsSettling { throw NoWait.error("recovering after a crashed writer") }
            try log.settle(opening: false)
            try catchUp()
        } catch {
            releaseExclusive()
            throw error
        }
    }

    func releaseExclusive() {
        holdsExclusive = false
        log?.writers.unlock()
        compactIfDue()
        if !NoWait.isActive && deferredRemovals.isEmpty { deferredWork.store(false, ordering: .relaxed) }
    }
}
