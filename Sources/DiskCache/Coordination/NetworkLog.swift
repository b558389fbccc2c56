#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Coordination and log storage for a cache directory on a network filesystem (NFS, SMB,
/// SFTP, ...), built only from what held across two client mounts of one share (DESIGN.md,
/// "Network filesystems"): `mkdir` is exclusive, `rename` publishes a complete file, and a
/// file under a new, predictable name is seen by other hosts as soon as it exists; byte-range
/// locks, shared memory, appends and reopening a file that grew are not to be trusted.
///
/// So the log is a sequence of immutable batch files `b-<N>.dcb`, N = 1, 2, 3 ..., one per
/// committed write, each a header plus the same records the local segment holds:
///
/// - To write batch N a process claims N with `mkdir b-<N>.claim` (exclusive; never reused,
///   so no client's cached "it exists" can delay a successor), applies its operation on the
///   state through N-1, writes the batch to a private name and renames it to `b-<N>.dcb`.
///   A claim that stays unpublished for `lease` seconds of the waiter's own clock is
///   abandoned with `mkdir b-<N>.dcb`: a directory there reads as an empty batch and makes
///   the slow holder's `rename` fail (EISDIR), so it can never publish late.
/// - Readers learn of news by opening the next name, `b-<N+1>.dcb`.
/// - Compaction writes a checkpoint batch (flag set, the whole live state, logical offsets
///   from 0) and then a marker `ckpt-<c>` naming it. Batches before the previous checkpoint
///   are deleted, so a process more than one checkpoint behind notices through the marker of
///   the checkpoint after its own and starts again from the newest checkpoint.
///
/// Logical offsets: a checkpoint's payload starts a generation at offset 0 and every later
/// batch's payload follows the previous one, so index entries address records exactly as in
/// a local segment (`LogHead.segment` is the generation's checkpoint batch number, 0 before
/// the first checkpoint).
final class NetworkLog: LogStore, WriterExclusion {
    static let markerName = "network"

    let directory: String
    /// Seconds after which another process's unpublished claim is abandoned.
    let lease: Double
    /// Reads look for news at most this often (seconds); writes always look first.
    let pollInterval: Double

    /// Batch number of the current generation's checkpoint (0: none yet).
    var generation: UInt64 = 0
    /// The salt the current generation's records are bound to (`RecordPlace`): chosen by the
    /// writer of its first non-empty batch (a checkpoint, or batch 1 onwards before the first
    /// checkpoint) and carried in every batch header of the generation. 0: not chosen yet.
    var generationSalt: UInt64 = 0
    /// The salt chosen for the claimed batch while the generation has none.
    var claimSalt: UInt64 = 0
    /// Checkpoints so far (the current generation's), and the one before it.
    var checkpointCount: UInt64 = 0
    var previousGeneration: UInt64 = 0
    /// Last batch applied to this process's view.
    var last: UInt64 = 0
    /// Logical end of the current generation.
    var end: Int64 = 0
    /// Non-empty batches of the current generation: logical start, number, payload length.
    var pieces: [(start: Int64, number: UInt64, length: Int64)] = []
    /// Whole batch files (header included) kept in memory: batches never change, and reading
    /// through a network client costs a round trip per read. Small batches always, a
    /// checkpoint up to `keptCheckpointLimit`.
    var kept: [UInt64: [UInt8]] = [:]
    static let keptBatchLimit = 1 << 20
    static let keptCheckpointLimit = 64 << 20
    var descriptors: [UInt64: FileDescriptor] = [:]
    /// The batch being claimed, if this process holds a claim.
    var claimed: UInt64?
    var lastPoll: Double = -1
    var lastMarkerProbe: Double = -1
    /// Batches that failed their checksum (their records were skipped), for `check`.
    var damagedBatches: [UInt64] = []
    let statistics: StatisticsCounters = ProcessStatistics()

    init(directory: String, lease: Double = 30, pollInterval: Double = 0.005) throws {
        self.directory = directory
        self.lease = lease
        self.pollInterval = pollInterval
        let marker = directory + "/" + NetworkLog.markerName
        if PathOps.fileSize(marker) == nil {
            try AtomicFile.publish(marker, bytes: Array("diskcache-swift network mode\n".utf8), sync: false, unnamed: false, network: true)
        }
        try rediscover()
    }

    // MARK: Names

    static func batchName(_ n: UInt64) -> String { "b-" + padded(n) + ".dcb" }
    static func claimName(_ n: UInt64) -> String { "b-" + padded(n) + ".claim" }
    static func markerName(checkpoint c: UInt64) -> String { "ckpt-" + padded(c) }

    static func padded(_ n: UInt64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    static func number(fromName name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    func path(_ name: String) -> String { directory + "/" + name }

    // MARK: LogStore

    var name: String { "the network log of \(directory) (generation \(generation))" }
    var isNetwork: Bool { true }
    /// Claims are numbers of this log's batches: the log excludes writers itself.
    var writers: WriterExclusion { self }

    /// A claim starts from the newest batch: there is nothing to settle.
    func settle(opening: Bool) throws {}
    var needsSettling: Bool { false }
    var readsFromMemory: Bool { false }
    /// A claim is network I/O, which always waits: never taken without waiting.
    func tryLock() throws -> Bool { false }

    func publishedHead() -> LogHead {
        if claimed == nil { _ = try? poll(force: false) }
        return LogHead(segment: generation, end: end)
    }

    /// Brings the view up to date now (before a write, or after a read found a file gone).
    func refresh() throws -> LogHead {
        if claimed == nil { _ = try poll(force: true, verify: true) }
        return LogHead(segment: generation, end: end)
    }

    func mapped(at offset: Int64, count: Int) -> UnsafeRawBufferPointer? { nil }

    func scan(from: Int64, to: Int64, resync: Bool, _ body: (RecordView, Int64) throws -> Void) throws -> Segment.ScanResult {
        try Segment.scan(reading: { try read(at: $0, into: $1) }, from: from, to: to, salt: generationSalt, source: name, resync: resync, body)
    }

    /// A batch not yet read was deleted: this view is more than a checkpoint behind. It starts
    /// again from the newest checkpoint.
    func headAfterLosingTrack() throws -> LogHead? {
        try rediscover()
        return try refresh()
    }

    /// Indexes are rebuilt from the newest checkpoint (no snapshots in this mode).
    func startIndex(at head: LogHead) throws -> (index: ShardIndex, from: Int64) { (ShardIndex(), 0) }

    func snapshotIndex(upTo end: Int64) throws -> (index: ShardIndex, from: Int64)? { nil }

    func indexCaughtUp(_ index: ShardIndex, end: Int64, replayed: Int64, closing: Bool) {}

    func append(_ records: UnsafeRawBufferPointer, at head: LogHead, sync: Bool) throws -> LogHead {
        let end = try commit(sync: sync) { _, emit in try emit(records) }
        return LogHead(segment: generation, end: end)
    }

    /// After max(256, live bytes / 16 KiB) batches (each costs readers an open), or when
    /// more than half of a log larger than 4 MiB is dead.
    func compactionDue(end: Int64, liveBytes: Int64) -> Bool {
        batchesSinceCheckpoint >= max(256, UInt64(max(0, liveBytes) / 16384)) || (end > 4 << 20 && (end - liveBytes) * 2 > end)
    }

    func compact(sync: Bool, _ writeLive: (UInt64, (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Void) throws -> LogHead {
        let end = try commit(sync: sync, checkpoint: true) { salt, emit in
            try withoutActuallyEscaping(emit) { emit in try writeLive(salt) { chunk, _ in try emit(chunk) } }
        }
        return LogHead(segment: generation, end: end)
    }

    var damageFindings: [CheckFinding] {
        damagedBatches.map { n in
            let path = path(NetworkLog.batchName(n))
            return CheckFinding(kind: .damagedRecord, message: "Damaged batch \(path) (its records were skipped)", path: path, fixed: false)
        }
    }

    func reopenAfterFork() throws {
        // The child does not hold the parent's claim; descriptors are per file and read-only.
        claimed = nil
    }

    func close() {
        closeDescriptors()
    }
}
