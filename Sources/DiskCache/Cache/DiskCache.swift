#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import Synchronization
import SystemPackage

/// A persistent key→value cache in a directory, shared by threads, processes and (in
/// network mode) hosts.
///
/// The directory holds a log of checksummed records (a segment file on local disks, batch
/// files on network filesystems: see `LogStore`) and value files (`ab/cd/….val`) for large
/// values. Each process keeps an index in memory and brings it up to date before every
/// operation by applying the records other processes appended since it last looked.
///
/// For example:
///
///     let cache = try DiskCache(directory: "/tmp/example")
///     try cache.set("answer", bytes: Array("42".utf8))
///     let item = try cache.get("answer")   // item?.value == Array("42".utf8)
public final class DiskCache: @unchecked Sendable {
    /// The cache directory as given.
    public let directory: String
    let overrides: [String: SettingValue]
    /// nil: detect from the filesystem; true/false: network-filesystem mode forced on/off.
    let networkPreference: Bool?
    let networkLease: Double

    /// Guards the state below; held for the span of one operation.
    var mutex = StateLock()
    /// Which thread of the process writes (see `WriterSlot`); taken before `mutex`.
    var writer: WriterSlot
    var forkGeneration: UInt64

    // Everything below is guarded by `mutex`.
    /// The log, in the directory's coordination mode (nil while closed).
    var log: LogStore?
    /// The head the index reflects.
    var applied = LogHead(segment: 0, end: 0)
    var index = ShardIndex()
    var settings = EffectiveSettings() {
        didSet { minFileSizeSeen.store(settings.minFileSize, ordering: .relaxed) }
    }
    /// `settings.minFileSize`, readable without `mutex`: deciding where a value goes happens
    /// before a write takes its place (see `placeInFile`).
    let minFileSizeSeen = Atomic<Int>(EffectiveSettings().minFileSize)
    var scratch = [UInt8](repeating: 0, count: 4096)
    /// Reused for reading value files (see `withValue`).
    var fileScratch: [UInt8] = []
    /// Records of the running write, not yet in the segment (they start at `applied.end`).
    var pending: [UInt8] = []
    var holdsExclusive = false
    var compacting = false
    var transactionDepth = 0
    var transactionBodyStart = 0
    /// Value files (names relative to the directory) to remove once the write commits, and
    /// those the write created, to remove if it rolls back.
    var removeAfterCommit: [String] = []
    var removeOnRollback: [String] = []
    /// Value files let go of by writes made without waiting, removed by the next write
    /// outside the mode.
    var deferredRemovals: [String] = []
    /// Whether writes made without waiting left work (readable without `mutex`).
    let deferredWork = Atomic<Bool>(false)
    /// Names of value files let go of while `reportsRemovedValueFiles` is on, not yet taken.
    var removedValueFiles: [String] = []
    var reportsRemovals = false

    /// When on, value files the cache is done with (replaced, deleted, expired, culled,
    /// evicted, cleared, or written for a store that failed or did not happen) are not
    /// unlinked but listed for `takeRemovedValueFiles`: for a binding whose own code removes
    /// them (python-diskcache's overridable `Disk.remove`). The taker then owns them.
    public var reportsRemovedValueFiles: Bool {
        get {
            mutex.lock(); defer { mutex.unlock() }
            return reportsRemovals
        }
        set {
            mutex.lock(); defer { mutex.unlock() }
            reportsRemovals = newValue
        }
    }

    /// The value files let go of since the last call (see `reportsRemovedValueFiles`), as
    /// names relative to the directory.
    public func takeRemovedValueFiles() -> [String] {
        mutex.lock(); defer { mutex.unlock() }
        defer { removedValueFiles = [] }
        return removedValueFiles
    }
    var compactionBackoff = CompactionBackoff()
    /// The published state, for other threads' reads during a transaction.
    var publishedView: PublishedView?

    /// How long a write waits for the cache, held by another thread of the process or by
    /// another process, before throwing `.timeout` (nil: no limit).
    public var lockTimeout: Duration? {
        get { writer.timeout.map { .seconds($0) } }
        set { writer.timeout = newValue?.seconds }
    }

    /// What python-diskcache allows that a Swift program most likely does not mean.
    public struct Leniency: OptionSet, Sendable {
        /// The options as bits.
        public let rawValue: Int
        /// Options from their bits.
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Setting names the engine does not know are persisted as given (python-diskcache
        /// stores every keyword argument of `Cache()`), instead of rejected.
        public static let anySettingName = Leniency(rawValue: 1)
        /// An operation after `close()` reopens the cache (python-diskcache's `close()`),
        /// instead of throwing `.closed`.
        public static let reopenAfterClose = Leniency(rawValue: 2)
        /// python-diskcache's behaviour, for bindings that reproduce it.
        public static let pythonDiskcache: Leniency = [.anySettingName, .reopenAfterClose]
    }

    /// What this cache allows beyond the strict defaults (chosen when it was opened).
    public let leniency: Leniency
    /// `close()` was called (guarded by `mutex`).
    var closedByUser = false

    /// Opens (creating if needed) the cache in `directory`. `settings` override the persisted
    /// ones and are persisted in turn (python-diskcache's rule); names are `SettingName`'s.
    ///
    /// - Throws: `DiskCacheError` naming the path if the directory cannot be created or read;
    ///   `.invalidArgument` naming the setting if one is unknown (unless `leniency` has
    ///   `.anySettingName`) or its value is invalid.
    ///
    /// `network` chooses how processes coordinate: `nil` detects it (network mode on NFS,
    /// SMB/CIFS, FUSE network filesystems such as sshfs, Ceph, Lustre, 9p, AFS ..., or when
    /// the directory already is in network mode), `true`/`false` force it. `lease` (network
    /// mode) is how long a write may hold the cache before others abandon it. `timeout`
    /// bounds the wait for another process's lock, opening included (see `lockTimeout`).
    ///
    /// For example:
    ///
    ///     let cache = try DiskCache(directory: "/var/cache/app", settings: [SettingName.sizeLimit: .int(1 << 28)], timeout: .seconds(2))
    public init(directory: String, settings: [String: SettingValue] = [:], network: Bool? = nil, lease: Duration = .seconds(30), timeout: Duration? = nil, leniency: Leniency = []) throws {
        self.directory = directory
        self.networkPreference = network
        self.networkLease = lease.seconds
        self.writer = WriterSlot(timeout: timeout?.seconds)
        self.leniency = leniency
        for (k, v) in settings.sorted(by: { $0.key < $1.key }) { try EffectiveSettings.validate(k, v, anyName: leniency.contains(.anySettingName)) }
        self.overrides = settings
        forkGeneration = dcs_fork_generation()
        mutex.lock()
        defer { mutex.unlock() }
        try open()
    }

    /// The initializer before durations: times in seconds, and python-diskcache's leniency
    /// (any setting name; use after `close()` reopens), which its callers relied on.
    @available(*, deprecated, message: "use init(directory:settings:network:lease:timeout:leniency:) with Duration values")
    public convenience init(directory: String, settings: [String: SettingValue] = [:], network: Bool? = nil, lease: Double, timeout: Double?) throws {
        try self.init(directory: directory, settings: settings, network: network, lease: .seconds(lease), timeout: timeout.map { .seconds($0) }, leniency: .pythonDiskcache)
    }

    deinit {
        closeFiles()
    }

    /// Releases descriptors and mappings; later operations throw `.closed` (with
    /// `Leniency.reopenAfterClose`, the next operation reopens, as after python-diskcache's
    /// `close()`). Closing again does nothing. Pending statistics, a snapshot for the next
    /// open and deferred file removals are written first.
    ///
    /// - Throws: `.inTransaction` if the calling thread has a transaction open; the
    ///   transaction is left as it was (closing used to drop its writes so far and let the
    ///   later ones commit one by one).
    public func close() throws {
        try NoWait.refuse("closing")
        // Waits for another thread's transaction to end; in this thread's, throws below.
        _ = writer.acquire(deadline: nil)
        defer { writer.release() }
        mutex.lock()
        defer { mutex.unlock() }
        if transactionDepth > 0 {
            throw DiskCacheError(.inTransaction, "Cannot close the cache at '\(directory)' inside a transaction: end the transaction first")
        }
        removeGarbageFiles()
        if let log, !holdsExclusive { log.indexCaughtUp(index, end: applied.end, replayed: 0, closing: true) }
        closeFiles()
        closedByUser = true
    }

    func closeFiles() {
        log?.close()
        log = nil
        index = ShardIndex()
        publishedView = nil
        applied = LogHead(segment: 0, end: 0)
    }
}
