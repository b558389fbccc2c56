import CDiskCacheSupport

/// The calling thread's "attempt without waiting" mode (see `DiskCache.withoutWaiting`).
///
/// The mode is decided at the points where an operation would first wait, all of them before
/// the operation has any effect: the state mutex, the writer slot, the cross-process lock,
/// settling the log, catching up with other processes (allowed only when it reads a few mapped
/// bytes), opening, network I/O, value files and `fsync`. Waits that would come after an effect
/// are refused up front (a value that goes to a file, durability `sync`, transactions) or
/// deferred (compaction after a commit, removing value files the write let go of: see
/// `DiskCache.performDeferredWork`). `Blocking.wait` counts a wait that slipped through anyway
/// (`unrefusedWaits`), which the tests check stays at zero.
enum NoWait {
    @inline(__always)
    static var isActive: Bool { dcs_no_wait() != 0 }

    /// Throws `.wouldBlock` when the mode is on; `what` names the wait for the message.
    @inline(__always)
    static func refuse(_ what: @autoclosure () -> String) throws {
        if dcs_no_wait() != 0 { throw error(what()) }
    }

    static func error(_ what: String) -> DiskCacheError {
        DiskCacheError(.wouldBlock, "Would wait (\(what)); nothing was done: call again without `withoutWaiting`")
    }

    /// Waits entered in the mode on this thread so far (each a defect; for tests).
    static var unrefusedWaits: UInt64 { dcs_unrefused_waits() }

    /// How many bytes of another process's appends a read in the mode replays: they are in the
    /// page cache (just written) and the replay is a scan of memory. A longer catch-up, or one
    /// that switches segments (reads a snapshot and replays a log), waits.
    static let catchUpLimit: Int64 = 1 << 20
}

extension DiskCache {
    /// Runs `body` in "attempt without waiting" mode on the calling thread: any cache
    /// operation in it that would wait — for the state mutex another thread holds, another
    /// thread's or process's write lock, the disk (value files, `fsync`, replaying more than a
    /// little of the log, opening), or the network (network mode: every operation) — throws
    /// `DiskCacheError` with code `.wouldBlock` instead, before it has had any effect. Reads and
    /// small writes of an uncontended local cache succeed as usual.
    ///
    /// It lets an event loop or a Swift concurrency task try an operation on its own thread and
    /// hand it to a thread that may block only when needed (`DiskCacheKit.AsyncDiskCache` does
    /// this). The mode belongs to the thread, not to this cache, and nests.
    ///
    /// Refused up front in the mode: a value stored in a file of its own (large values,
    /// streams, adopted files), any write when the `durability` setting is `sync`,
    /// `transact`/`beginTransaction` (unless joining this thread's open transaction), ending
    /// the outermost transaction, `compact`, `check` and `close`. Deferred instead of waited
    /// for: compaction after a write and removing value files a write let go of (see
    /// `hasDeferredWork`). An access record (least-recently/frequently-used policies) that would
    /// wait is not written, as when another thread has a transaction open.
    ///
    /// For example:
    ///
    ///     do {
    ///         item = try cache.withoutWaiting { try cache.get("k") }
    ///     } catch let e as DiskCacheError where e.code == .wouldBlock {
    ///         item = try await onBlockingThread { try cache.get("k") }
    ///     }
    public func withoutWaiting<R>(_ body: () throws -> R) rethrows -> R {
        try DiskCache.withoutWaiting(body)
    }

    /// The same as the instance method: the mode is the calling thread's.
    public static func withoutWaiting<R>(_ body: () throws -> R) rethrows -> R {
        let was = dcs_set_no_wait(1)
        defer { dcs_set_no_wait(was) }
        return try body()
    }

    /// Whether the calling thread is in "attempt without waiting" mode.
    public static var isWithoutWaiting: Bool { NoWait.isActive }

    /// Whether writes made without waiting left work behind (a compaction that is due, value
    /// files to remove). Any later write outside the mode does it, or `performDeferredWork`.
    /// Never waits.
    public var hasDeferredWork: Bool { deferredWork.load(ordering: .relaxed) }

    /// Does what writes made without waiting deferred (see `hasDeferredWork`). May wait.
    public func performDeferredWork() throws {
        try NoWait.refuse("deferred work")
        try withWriting {}
    }
}
