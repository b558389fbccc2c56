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
    var mutex = RecursiveMutex()
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
    var pendingHits = 0
    var pendingMisses = 0
    var compactionBackoff = CompactionBackoff()
    /// The published state, for other threads' reads during a transaction.
    var publishedView: PublishedView?

    /// How long a write waits for the cache, held by another thread of the process or by
    /// another process, before throwing `.timeout` (nil: no limit).
    public var lockTimeout: Double? {
        get { writer.timeout }
        set { writer.timeout = newValue }
    }

    /// Opens (creating if needed) the cache in `directory`. `settings` override the persisted
    /// ones and are persisted in turn (python-diskcache's rule).
    ///
    /// - Throws: `DiskCacheError` naming the path if the directory cannot be created or read,
    ///   or a setting is invalid.
    ///
    /// `network` chooses how processes coordinate: `nil` detects it (network mode on NFS,
    /// SMB/CIFS, FUSE network filesystems such as sshfs, Ceph, Lustre, 9p, AFS ..., or when
    /// the directory already is in network mode), `true`/`false` force it. `lease` (network
    /// mode) is how long a write may hold the cache before others abandon it. `timeout`
    /// bounds the wait for another process's lock, opening included (see `lockTimeout`).
    public init(directory: String, settings: [String: SettingValue] = [:], network: Bool? = nil, lease: Double = 30, timeout: Double? = nil) throws {
        self.directory = directory
        self.networkPreference = network
        self.networkLease = lease
        self.writer = WriterSlot(timeout: timeout)
        for (k, v) in settings { try EffectiveSettings.validate(k, v) }
        self.overrides = settings
        forkGeneration = dcs_fork_generation()
        mutex.lock()
        defer { mutex.unlock() }
        try open()
    }

    deinit {
        closeFiles()
    }

    /// Releases descriptors and mappings. The next operation reopens (python-diskcache's
    /// `close()` behaves the same way).
    ///
    /// - Throws: `.inTransaction` if the calling thread has a transaction open; the
    ///   transaction is left as it was (closing used to drop its writes so far and let the
    ///   later ones commit one by one).
    public func close() throws {
        // Waits for another thread's transaction to end; in this thread's, throws below.
        _ = writer.acquire(deadline: nil)
        defer { writer.release() }
        mutex.lock()
        defer { mutex.unlock() }
        if transactionDepth > 0 {
            throw DiskCacheError(.inTransaction, "Cannot close the cache at '\(directory)' inside a transaction: end the transaction first")
        }
        flushStats()
        if let log, !holdsExclusive { log.indexCaughtUp(index, end: applied.end, replayed: 0, closing: true) }
        closeFiles()
    }

    func closeFiles() {
        log?.close()
        log = nil
        index = ShardIndex()
        publishedView = nil
        applied = LogHead(segment: 0, end: 0)
    }

    // MARK: Opening

    func open() throws {
        if PathOps.fileSize(directory) != nil && !PathOps.isDirectory(directory) {
            throw DiskCacheError(.notADirectory, "Could not open cache: '\(directory)' exists and is not a directory")
        }
        do { try PathOps.makeDirectories(directory) } catch {
            throw DiskCacheError.io("create cache directory", directory, error)
        }
        let log: LogStore = try useNetworkMode() ? try openNetworkLog() : try LocalLog(directory: directory)
        self.log = log
        do {
            try log.lockExclusive(timeout: writer.timeout)
            holdsExclusive = true
            defer {
                holdsExclusive = false
                log.unlockExclusive()
            }
            try log.settle(opening: true)
            try reload(log.publishedHead())
            try applyOverrides()
        } catch {
            closeFiles()
            throw error
        }
    }

    /// Whether this directory is (to be) in network-filesystem mode.
    private func useNetworkMode() throws -> Bool {
        let marked = PathOps.fileSize(directory + "/" + NetworkLog.markerName) != nil
        switch networkPreference {
        case true?:
            return true
        case false?:
            if marked {
                throw DiskCacheError(.invalidArgument, "Cache directory '\(directory)' is in network mode (its processes coordinate through lock directories, not shared memory); open it with network mode on or detection")
            }
            return false
        case nil:
            return marked || FilesystemKind.isNetwork(directory)
        }
    }

    private func openNetworkLog() throws -> NetworkLog {
        let names: [String]
        do { names = try PathOps.listDirectory(directory) } catch {
            throw DiskCacheError.io("list", directory, error)
        }
        if names.contains(LocalCoordinator.fileName) && !names.contains(NetworkLog.markerName),
           names.contains(where: { SegmentFile.id(fromName: $0) != nil }) {
            throw DiskCacheError(.invalidArgument, "Cache directory '\(directory)' holds a local-mode cache; network mode cannot share it with local-mode processes (use a new directory)")
        }
        return try NetworkLog(directory: directory, lease: networkLease)
    }

    /// Whether the cache coordinates in network-filesystem mode.
    public var isNetworkMode: Bool {
        mutex.lock(); defer { mutex.unlock() }
        return log?.isNetwork ?? false
    }

    /// The open log; `.closed` if there is none.
    @inline(__always)
    func openLog() throws -> LogStore {
        guard let log else { throw DiskCacheError(.closed, "Cache at '\(directory)' is closed") }
        return log
    }

    /// Rebuilds the index from the log named by `head`, up to its end: from a snapshot plus
    /// the records after it when the log has one that still matches it, else from the whole
    /// log.
    func reload(_ head: LogHead) throws {
        let log = try openLog()
        var (fresh, start) = try log.startIndex(at: head)
        fresh.bulkLoading = true
        _ = try log.scan(from: start, to: head.end, resync: true) { r, off in fresh.apply(r, offset: off) }
        fresh.finishBulkLoad()
        applied = head
        index = fresh
        settings = EffectiveSettings(effectiveSettingValues())
        log.indexCaughtUp(index, end: head.end, replayed: head.end - start, closing: false)
    }

    private func applyOverrides() throws {
        var changed = false
        for (name, value) in overrides.sorted(by: { $0.key < $1.key }) where index.settings[name] != value {
            appendSetting(name, value)
            changed = true
        }
        if changed { try commitPending() }
        settings = EffectiveSettings(effectiveSettingValues())
    }

    func effectiveSettingValues() -> [String: SettingValue] {
        EffectiveSettings.defaults.merging(index.settings) { _, stored in stored }
    }

    // MARK: Per-operation entry points

    /// Reopens per-process state after fork or close. Called with `mutex` held.
    @inline(__always)
    func prepare() throws {
        if log == nil { try open() }
    }

    /// Fork check before taking the mutex: a child must not use the parent's mutex (another
    /// parent thread may have held it) nor its flock.
    @inline(__always)
    func checkFork() throws {
        let generation = dcs_fork_generation()
        if generation != forkGeneration { try afterFork(generation) }
    }

    private func afterFork(_ generation: UInt64) throws {
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
        mutex = RecursiveMutex()
        // The slot may be held by a parent thread: a new one, the old one abandoned.
        _ = Unmanaged.passRetained(writer)
        writer = WriterSlot(timeout: writer.timeoutAtFork)
        forkGeneration = generation
        holdsExclusive = false
        transactionDepth = 0
        pending = []
        removeAfterCommit.removeAll()
        removeOnRollback.removeAll()
        pendingHits = 0
        pendingMisses = 0
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
        let mutex: RecursiveMutex
        let index: ShardIndex
        let pending: [UInt8]
        let view: PublishedView?
        init(mutex: RecursiveMutex, index: ShardIndex, pending: [UInt8], view: PublishedView?) {
            self.mutex = mutex
            self.view = view
            self.index = index
            self.pending = pending
        }
    }

    /// Runs a read: index brought up to date with the published head first.
    @inline(__always)
    func withReading<R>(_ body: () throws -> R) throws -> R {
        try checkFork()
        mutex.lock()
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
        mutex.lock()
        defer { mutex.unlock() }
        try prepare()
        if holdsExclusive { return try body() }
        try acquireExclusive(deadline)
        defer { releaseExclusive() }
        do {
            let r = try body()
            try commitPending()
            return r
        } catch {
            rollbackPending()
            throw error
        }
    }

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
        try checkFork()
        let deadline = try enterWriter()
        mutex.lock()
        defer { mutex.unlock() }
        do {
            try prepare()
            if transactionDepth > 0 {
                transactionDepth += 1
                return
            }
            try acquireExclusive(deadline)
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

    /// Takes the writer slot, waiting at most the lock timeout; returns the deadline the rest
    /// of the write's waiting (for other processes) must keep.
    func enterWriter() throws -> Double? {
        let deadline = writer.deadline()
        guard writer.acquire(deadline: deadline) else {
            throw DiskCacheError(.timeout, "Timed out after \(writer.timeout ?? 0) s waiting for another thread's write to the cache at '\(directory)'")
        }
        return deadline
    }

    func acquireExclusive(_ deadline: Double?) throws {
        let log = try openLog()
        try log.lockExclusive(timeout: deadline.map { max(0, $0 - monotonicClock()) })
        holdsExclusive = true
        do {
            try log.settle(opening: false)
            try catchUp()
        } catch {
            releaseExclusive()
            throw error
        }
    }

    func releaseExclusive() {
        holdsExclusive = false
        log?.unlockExclusive()
        compactIfDue()
    }

    /// Applies records other processes published since this process last looked.
    @inline(__always)
    func catchUp() throws {
        guard let log else { return }
        let head = log.publishedHead()
        if head == applied { return }
        try catchUpSlow(head, log)
    }

    private func catchUpSlow(_ first: LogHead, _ log: LogStore) throws {
        var head = first
        for _ in 0..<100 {
            if head.segment != applied.segment {
                do {
                    try reload(head)
                    return
                } catch let e as DiskCacheError where e.errno == .noSuchFileOrDirectory {
                    // Compacted again before we opened it: look at the head once more.
                    head = log.publishedHead()
                    continue
                }
            }
            if head.end < applied.end {
                try reload(head)
                return
            }
            do {
                _ = try log.scan(from: applied.end, to: head.end, resync: true) { r, off in index.apply(r, offset: off) }
            } catch let e as DiskCacheError where e.errno == .noSuchFileOrDirectory {
                guard let fresh = try log.headAfterLosingTrack() else { throw e }
                try reload(fresh)
                return
            }
            applied = head
            if index.settings.count > 0 { settings = EffectiveSettings(effectiveSettingValues()) }
            return
        }
    }

    // MARK: Appending records

    /// Appends a record to the running write and applies it to the index at once, so later
    /// operations in the same write see it. Returns the entry it replaced or removed.
    @discardableResult
    func appendRecord(_ header: RecordHeader, key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) -> Entry? {
        let start = pending.count
        RecordHeader.append(header, key: key, tag: tag, value: value, to: &pending, salt: log?.salt ?? 0, base: applied.end)
        var h = header
        h.keyLength = key.count
        h.tagLength = tag.count
        h.valueLength = value.count
        let offset = applied.end + Int64(start)
        return pending.withUnsafeBytes { raw in
            index.apply(RecordView(h, UnsafeRawBufferPointer(rebasing: raw[start...]))!, offset: offset)
        }
    }

    func appendMarker(_ kind: RecordKind) {
        RecordHeader.append(RecordHeader(kind: kind), key: UnsafeRawBufferPointer(start: nil, count: 0), tag: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0), to: &pending, salt: log?.salt ?? 0, base: applied.end)
    }

    func appendSetting(_ name: String, _ value: SettingValue) {
        var h = RecordHeader(kind: .setting)
        let (kind, bytes) = value.encoded()
        h.keyKind = ItemKind.text.rawValue
        h.valueKind = kind.rawValue
        var n = name
        _ = n.withUTF8 { nameBytes in
            bytes.withUnsafeBytes { v in
                appendRecord(h, key: UnsafeRawBufferPointer(nameBytes), value: v)
            }
        }
    }

    /// Writes the running write's records past the head, makes them durable if asked, and
    /// publishes the new head.
    func commitPending() throws {
        defer {
            removeOnRollback.removeAll()
        }
        if pending.isEmpty {
            removeGarbageFiles()
            return
        }
        let log = try openLog()
        applied = try pending.withUnsafeBytes { try log.append($0, at: applied, sync: settings.durability == .sync) }
        pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20)
        removeGarbageFiles()
    }

    /// Undoes the running write: its records were never published; the index is rebuilt from
    /// what was, and value files it created are removed.
    func rollbackPending() {
        pending.removeAll()
        removeAfterCommit.removeAll()
        for name in removeOnRollback { ValueFiles.remove(directory: directory, name: name) }
        removeOnRollback.removeAll()
        do { try reload(applied) } catch { closeFiles() }
    }

    func removeGarbageFiles() {
        for name in removeAfterCommit { ValueFiles.remove(directory: directory, name: name) }
        removeAfterCommit.removeAll()
    }

    /// Notes that a removed or replaced entry's value file is garbage once the write commits.
    func discard(_ old: Entry?) {
        guard let old, old.isExternal else { return }
        if let name = try? externalValue(of: old)?.name { removeAfterCommit.append(name) }
    }

    // MARK: Statistics

    func countStat(hit: Bool) {
        guard settings.statistics else { return }
        if hit { pendingHits += 1 } else { pendingMisses += 1 }
        flushStats()
    }

    func flushStats() {
        if pendingHits != 0 || pendingMisses != 0 {
            log?.statistics.add(hits: pendingHits, misses: pendingMisses)
            pendingHits = 0
            pendingMisses = 0
        }
    }
}
