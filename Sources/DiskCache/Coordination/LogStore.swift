import Synchronization

/// The log of a cache directory as one coordination mode keeps it: where its records are,
/// how writers exclude each other, how the head is published and recovered, and how the log
/// is compacted. The cache talks only to this; each mode is one type (`LocalLog`: a segment
/// file, `flock` and a shared control page; `NetworkLog`: immutable batch files and `mkdir`
/// claims). A third mode is a third type.
///
/// Offsets are log offsets (0 = the first record of the current segment or generation);
/// records are bound to `salt` and their offset (`RecordPlace`).
protocol LogStore: AnyObject {
    /// What messages call the log (a path, or a description).
    var name: String { get }
    /// Whether this is the network-filesystem mode.
    var isNetwork: Bool { get }
    /// Counters of hits and misses, shared as widely as the mode can.
    var statistics: StatisticsCounters { get }

    // MARK: Writers

    /// What excludes other processes' (and hosts') writers.
    var writers: WriterExclusion { get }
    /// Under the lock: makes the log's head trustworthy before anyone appends (a writer died
    /// mid-write, the shared state is new or damaged; `opening` settles it unconditionally).
    func settle(opening: Bool) throws
    /// Whether `settle(opening: false)` has work to do (which reads the disk); under the lock.
    var needsSettling: Bool { get }

    // MARK: The head and the records

    /// The last published head (cheap: called before every read).
    func publishedHead() -> LogHead
    /// The salt the records of the current log are bound to (under the lock: the one new
    /// records get).
    var salt: UInt64 { get }
    /// Reads log bytes from `offset`; less than asked only at the end.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Whether `mapped` has every byte below the published head (reads need no buffer and
    /// no system call, so they can run on many threads at once).
    var readsFromMemory: Bool { get }
    /// Log bytes below the published head in memory, if the mode has them there.
    func mapped(at offset: Int64, count: Int) -> UnsafeRawBufferPointer?
    /// Visits the records in `[from, to)` (`Segment.scan`'s rules).
    func scan(from: Int64, to: Int64, resync: Bool, _ body: (RecordView, Int64) throws -> Void) throws -> Segment.ScanResult
    /// After a read found part of the log gone (another process compacted twice since this
    /// one looked): the head to rebuild the index from, or nil if that cannot happen here.
    func headAfterLosingTrack() throws -> LogHead?

    // MARK: The index

    /// Switches to the log of `head` and returns the index to replay its records onto: one
    /// restored from a snapshot when a valid one matches the log (with the offset it reaches),
    /// else an empty one (offset 0).
    func startIndex(at head: LogHead) throws -> (index: ShardIndex, from: Int64)
    /// An index of the current log restored from a snapshot reaching no further than `end`,
    /// with the offset it reaches; nil if there is none (no side effects).
    func snapshotIndex(upTo end: Int64) throws -> (index: ShardIndex, from: Int64)?
    /// The index reflects the log up to `end`, `replayed` bytes of it by replay: a chance to
    /// save a snapshot. `closing`: the process is letting go of the cache.
    func indexCaughtUp(_ index: ShardIndex, end: Int64, replayed: Int64, closing: Bool)

    // MARK: Writing

    /// Appends a write's records at `head` (under the lock), durable first with `sync`, and
    /// publishes them. Returns the new head. On failure nothing was published.
    func append(_ records: UnsafeRawBufferPointer, at head: LogHead, sync: Bool) throws -> LogHead
    /// Whether the log is worth compacting (called after each write).
    func compactionDue(end: Int64, liveBytes: Int64) -> Bool
    /// Replaces the log with a new one holding what `writeLive` writes (the live records,
    /// bound to the salt it is given, in chunks with their offsets from 0), under the lock.
    /// Returns the new head.
    func compact(sync: Bool, _ writeLive: (_ salt: UInt64, _ sink: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Void) throws -> LogHead
    /// Damage found in the log's containers (not in records), for `check`.
    var damageFindings: [CheckFinding] { get }

    // MARK: Lifetime

    /// Re-creates per-process state in a forked child (locks must not be shared with the
    /// parent).
    func reopenAfterFork() throws
    func close()
}

/// How a mode lets one writer at a time append to the log: `flock` on the control file
/// (`FileLock`), or a claim of the next batch's number with `mkdir`, abandoned after a lease
/// (`NetworkLog`: the claim is tied to its view of the batches).
protocol WriterExclusion: AnyObject {
    /// Blocks until this process is the only writer, at most `timeout` seconds (nil: no
    /// limit), then throws `.timeout`. Not reentrant: the cache nests above it.
    func lock(timeout: Double?) throws
    /// Takes the lock if no other process holds it (false: one does); never waits.
    func tryLock() throws -> Bool
    func unlock()
}

/// Hits and misses: shared by every process of the host in local mode (a word each in the
/// control page), per process in network mode (hosts share no memory).
protocol StatisticsCounters: AnyObject {
    func add(hits: Int, misses: Int)
    func read() -> (hits: Int64, misses: Int64)
    func reset()
}

/// Counters of this process alone (atomic: reads run at once).
final class ProcessStatistics: StatisticsCounters {
    private let hits = Atomic<Int64>(0)
    private let misses = Atomic<Int64>(0)

    func add(hits: Int, misses: Int) {
        if hits != 0 { self.hits.add(Int64(hits), ordering: .relaxed) }
        if misses != 0 { self.misses.add(Int64(misses), ordering: .relaxed) }
    }

    func read() -> (hits: Int64, misses: Int64) { (hits.load(ordering: .relaxed), misses.load(ordering: .relaxed)) }

    func reset() {
        hits.store(0, ordering: .relaxed)
        misses.store(0, ordering: .relaxed)
    }
}
