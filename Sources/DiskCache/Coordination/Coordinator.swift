/// Where the log ends, as published to every process: the active segment and the offset up
/// to which its records are committed.
struct LogHead: Equatable {
    var segment: UInt64
    var end: Int64

    init(segment: UInt64, end: Int64) {
        self.segment = segment
        self.end = end
    }
}

/// How processes sharing a cache directory exclude each other and learn of each other's
/// writes. The engine talks only to this; the local-disk implementation uses `flock` and a
/// shared memory page, a network-filesystem one can use lock directories and new file names
/// on the same segment format.
protocol Coordinator: AnyObject {
    /// Blocks until this process is the only writer, at most `timeout` seconds (nil: no
    /// limit), then throws `.timeout`. Not reentrant: the engine nests above it.
    func lockExclusive(timeout: Double?) throws
    func unlockExclusive()
    /// The last published head (cheap: called before every read).
    func publishedHead() -> LogHead
    /// Makes `head` visible to every process. Caller holds the exclusive lock.
    func publish(_ head: LogHead)
    /// Marks that the lock holder is writing past the published head, so that a successor can
    /// tell a crashed writer's leftovers from a clean end.
    func setWriting(_ writing: Bool)
    var isWriting: Bool { get }
    /// Whether the shared state cannot be trusted: just created (nothing published yet), or
    /// damaged. Either way the lock holder settles the head from the log itself.
    var isFresh: Bool { get }
    func addStats(hits: Int, misses: Int)
    func stats() -> (hits: Int64, misses: Int64)
    func resetStats()
    /// Re-creates per-process state after fork (locks must not be shared with the parent).
    func reopenAfterFork() throws
    func close()
}
