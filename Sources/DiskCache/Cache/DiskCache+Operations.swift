/// How every operation runs: reads against an index brought up to date, writes under the
/// writer slot and the cross-process lock, committed or rolled back as a whole.
extension DiskCache {
    /// Reopens per-process state after fork or close. Called with `mutex` held.
    @inline(__always)
    func prepare() throws {
        if log == nil {
            if closedByUser && !leniency.contains(.reopenAfterClose) {
                throw DiskCacheError(.closed, "The cache at '\(directory)' was closed; open a new DiskCache to use it again")
            }
            try NoWait.refuse("opening the cache")
            try open()
            closedByUser = false
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

    /// Runs a read that changes nothing under the shared lock when the index is current, no
    /// transaction is open and the log is in memory: reads from many threads then run at once.
    /// Otherwise (another process wrote since, another thread is in a transaction, network
    /// mode, this thread holds the lock exclusively) it is a read under the exclusive lock,
    /// which brings the state up to date. `body` must change no state: it may count
    /// statistics (atomic) and read the mapped log, nothing else.
    @inline(__always)
    func withSharedReading<R>(_ body: () throws -> R) throws -> R {
        try checkFork()
        switch try mutex.lockShared() {
        case .took:
            if let log, !holdsExclusive, log.readsFromMemory, log.publishedHead() == applied {
                defer { mutex.unlockShared() }
                return try body()
            }
            mutex.unlockShared()
        case .alreadyShared:
            // The outer read checked the state, and it cannot change while it lasts.
            return try body()
        case .exclusive:
            break
        }
        return try withReading(body)
    }

    /// Runs a write: exclusive lock, index current, records appended, committed on success,
    /// rolled back on error. Inside a transaction it joins the transaction.
    @inline(__always)
    func withWriting<R>(_ body: () throws -> R) throws -> R {
        try checkFork()
        let deadline = try enterWriter()
        defer { writer.release() }
        let locked = try lockOtherProcesses(deadline)
        do { try mutex.lockUnlessRefused() } catch {
            locked?.writers.unlock()
            throw error
        }
        defer { mutex.unlock() }
        guard let locked else { return try body() }
        try enterExclusive(locked)
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
        try checkWritable()
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

    /// With the writer slot held: takes the other processes' lock, waiting (local mode) with the
    /// state lock released so that this process's reads go on meanwhile (another process may
    /// hold it for long). The slot keeps the log object from changing (only a writer or `close`, which
    /// takes the slot, replaces it). Returns the log whose lock it took; nil when this
    /// thread's transaction holds it already (the write joins the transaction).
    func lockOtherProcesses(_ deadline: Double?) throws -> LogStore? {
        let log: LogStore
        do {
            try mutex.lockUnlessRefused()
            defer { mutex.unlock() }
            try prepare()
            if holdsExclusive { return nil }
            log = try openLog()
            if log.isNetwork {
                // A network claim reads and changes the log's own state, which the state lock
                // guards (reads poll it): taken under it.
                try lockWriters(log, deadline)
                return log
            }
        }
        try lockWriters(log, deadline)
        return log
    }

    private func lockWriters(_ log: LogStore, _ deadline: Double?) throws {
        if NoWait.isActive {
            guard try log.writers.tryLock() else { throw NoWait.error("another process is writing") }
        } else {
            try log.writers.lock(timeout: deadline.map { max(0, $0 - monotonicClock()) })
        }
    }

    /// With both locks held: the log made trustworthy and the index brought up to date;
    /// on failure the other processes' lock is released.
    func enterExclusive(_ log: LogStore) throws {
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
