import CDiskCacheSupport

/// A forked child: its own locks and mutex, and the published state if the fork interrupted
/// a write of another thread.
extension DiskCache {
    /// Fork check before taking the mutex: a child must not use the parent's mutex (another
    /// parent thread may have held it) nor its flock.
    @inline(__always)
    func checkFork() throws {
        let generation = dcs_fork_generation()
        if generation != forkGeneration {
            try NoWait.refuse("reopening after fork")
            try afterFork(generation)
        }
    }

    func afterFork(_ generation: UInt64) throws {
        // A parent thread inside a write (a transaction, or a commit waiting for fsync) left
        // its records pending and applied to the index: entries that point into a buffer
        // the child must not commit. The child starts from the published state instead. If
        // the mutex was held at the fork, the index may even be mid-update: it is abandoned
        // (leaked: freeing a half-updated table is not safe), not cleaned up.
        let interrupted = !mutex.tryLock()
        if !interrupted { mutex.unlock() }
        let midWrite = interrupted || !pending.isEmpty || transactionDepth > 0 || holdsExclusive
        if interrupted {
            _ = Unmanaged.passRetained(Abandoned(mutex: mutex, index: index, pending: pending, view: publishedView))
            index = ShardIndex()
            publishedView = nil
        }
        mutex = StateLock()
        // The slot may be held by a parent thread: a new one, the old one abandoned.
        _ = Unmanaged.passRetained(writer)
        writer = WriterSlot(timeout: writer.timeoutAtFork)
        forkGeneration = generation
        holdsExclusive = false
        transactionDepth = 0
        pending = []
        removeAfterCommit.removeAll()
        removeOnRollback.removeAll()
        removedValueFiles.removeAll()
        compacting = false
        guard let log else { return }
        do {
            try log.reopenAfterFork()
            if midWrite { try reload(log.publishedHead()) }
        } catch {
            // The next operation opens afresh.
            closeFiles()
            throw error
        }
    }

    /// What a fork interrupted mid-update, kept alive forever (see `afterFork`).
    private final class Abandoned {
        let mutex: StateLock
        let index: ShardIndex
        let pending: [UInt8]
        let view: PublishedView?
        init(mutex: StateLock, index: ShardIndex, pending: [UInt8], view: PublishedView?) {
            self.mutex = mutex
            self.view = view
            self.index = index
            self.pending = pending
        }
    }
}
