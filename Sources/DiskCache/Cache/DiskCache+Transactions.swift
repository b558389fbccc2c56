/// Transactions: many writes as one, seen by others all together or not at all.
extension DiskCache {
    /// Runs `body` as one transaction: other processes see all of its writes or none, a crash
    /// inside leaves the cache as if it never began, and an error thrown out of it undoes it.
    /// Nested calls on one thread join the outermost.
    ///
    /// For example:
    ///
    ///     try cache.transact {
    ///         let n = try cache.incr("count", by: 1)
    ///         try cache.set("last", int: n)
    ///     }
    public func transact<R>(_ body: () throws -> R) throws -> R {
        try beginTransaction()
        let r: R
        do {
            r = try body()
        } catch {
            try? endTransaction(commit: false)
            throw error
        }
        try endTransaction(commit: true)
        return r
    }

    /// Opens a transaction (or joins the one this thread has open): the calling thread holds
    /// the cache for writing until the matching `endTransaction`; other threads' writes wait
    /// (at most their timeout), their reads see the state before the transaction (see
    /// `PublishedView`). For hosts whose transactions are not a
    /// closure (Python's `with cache.transact():`). Prefer `transact`.
    public func beginTransaction() throws {
        // Without waiting only joining this thread's own transaction: ending a transaction
        // commits (or rolls back by rebuilding the index), which may wait.
        if NoWait.isActive && !writer.isHeldByCurrentThread { throw NoWait.error("a transaction") }
        try checkFork()
        let deadline = try enterWriter()
        // The other processes' lock is waited for with the state lock released, as a single
        // write does: this process's reads go on meanwhile.
        let locked: LogStore?
        do { locked = try lockOtherProcesses(deadline) } catch {
            writer.release()
            throw error
        }
        do { try mutex.lockUnlessRefused() } catch {
            locked?.writers.unlock()
            writer.release()
            throw error
        }
        defer { mutex.unlock() }
        guard let locked else {
            // This thread holds the lock already: it joins its own transaction.
            guard transactionDepth > 0 else {
                writer.release()
                throw DiskCacheError(.invalidArgument, "Cannot begin a transaction inside a write to the cache at '\(directory)'")
            }
            transactionDepth += 1
            return
        }
        do {
            try enterExclusive(locked)
        } catch {
            writer.release()
            throw error
        }
        transactionDepth = 1
        appendMarker(.begin)
        transactionBodyStart = pending.count
    }

    /// Closes the innermost transaction. Only the outermost decides: it commits, or with
    /// `commit: false` rolls everything back (an inner one that fails just passes the error on,
    /// as python-diskcache's nested `transact` does).
    public func endTransaction(commit: Bool) throws {
        guard writer.isHeldByCurrentThread else { throw DiskCacheError(.invalidArgument, "No transaction is open") }
        mutex.lock()
        guard transactionDepth > 0 else {
            mutex.unlock()
            throw DiskCacheError(.invalidArgument, "No transaction is open")
        }
        if transactionDepth == 1 && NoWait.isActive {
            mutex.unlock()
            throw NoWait.error("ending a transaction")
        }
        defer {
            mutex.unlock()
            writer.release()
        }
        transactionDepth -= 1
        if transactionDepth > 0 { return }
        defer { releaseExclusive() }
        if !commit {
            rollbackPending()
            return
        }
        do {
            if pending.count == transactionBodyStart {
                pending.removeAll(keepingCapacity: true)
            } else {
                appendMarker(.commit)
            }
            try commitPending()
        } catch {
            rollbackPending()
            throw error
        }
    }
}
