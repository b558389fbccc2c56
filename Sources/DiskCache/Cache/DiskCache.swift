#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import Synchronization
import SystemPackage

/// A persistent key→value cache in a directory, shared by threads, processes and (through
/// the coordinator) hosts.
///
/// The directory holds one append-only log (`segment-N.dcl`) of checksummed records, a
/// `control` file through which processes exclude each other and publish how far the log is
/// committed, and value files (`ab/cd/….val`) for large values. Each process keeps an index
/// in memory and brings it up to date before every operation by applying the records other
/// processes appended since it last looked.
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
    var coordinator: Coordinator?
    /// The coordinator when the directory is in network-filesystem mode.
    var net: NetworkLog?
    var segmentFD: FileDescriptor? {
        didSet { remapSegment() }
    }
    /// The active segment mapped read-only and shared (local disks only), so a read is a
    /// memory copy instead of a `pread`. Reserved far past the end: as the file grows the
    /// mapping covers it without being redone. Only bytes below `applied.end` are read
    /// through it, and the file never shrinks below that (only torn or failed tails past the
    /// published head are cut).
    var segmentMap: UnsafeRawPointer?
    var segmentMappable = false
    static let segmentMapReserve = 1 << 36
    var segmentID: UInt64 = 0
    /// The head the index reflects.
    var applied = LogHead(segment: 0, end: 0)
    /// How far into the active segment the newest index snapshot this process knows of goes.
    var snapshotEnd: Int64 = 0
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
    var compactingNetwork = false
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
        // The next process to open starts from the index as it is now rather than replaying
        // what this one saw (and wrote) since the last snapshot.
        if net == nil, coordinator != nil, !holdsExclusive, applied.end - snapshotEnd >= Snapshot.worthWriting {
            Snapshot.write(directory: directory, index: index, head: applied)
        }
        closeFiles()
    }

    func remapSegment() {
        if let old = segmentMap {
            munmap(UnsafeMutableRawPointer(mutating: old), DiskCache.segmentMapReserve)
            segmentMap = nil
        }
        guard segmentMappable, let fd = segmentFD else { return }
        let p = mmap(nil, DiskCache.segmentMapReserve, PROT_READ, MAP_SHARED, fd.rawValue, 0)
        if let p, p != MAP_FAILED { segmentMap = UnsafeRawPointer(p) }  // else: pread
    }

    func closeFiles() {
        coordinator?.close()
        coordinator = nil
        net = nil
        try? segmentFD?.close()
        segmentFD = nil
        index = ShardIndex()
        publishedView = nil
        applied = LogHead(segment: 0, end: 0)
        snapshotEnd = 0
    }

    // MARK: Opening

    func open() throws {
        if PathOps.fileSize(directory) != nil && !PathOps.isDirectory(directory) {
            throw DiskCacheError(.notADirectory, "Could not open cache: '\(directory)' exists and is not a directory")
        }
        do { try PathOps.makeDirectories(directory) } catch {
            throw DiskCacheError.io("create cache directory", directory, error)
        }
        if try useNetworkMode() {
            try openNetwork()
            return
        }
        let coordinator = try LocalCoordinator(directory: directory)
        self.coordinator = coordinator
        // Forced local mode on a network filesystem: mappings are not coherent there.
        segmentMappable = !FilesystemKind.isNetwork(directory)
        do { try coordinator.lockExclusive(timeout: writer.timeout) } catch {
            closeFiles()
            throw error
        }
        holdsExclusive = true
        defer {
            holdsExclusive = false
            coordinator.unlockExclusive()
        }
        do {
            try recoverHead(coordinator)
            try reload(coordinator.publishedHead())
            try applyOverrides()
        } catch {
            closeFiles()
            throw error
        }
    }

    /// Establishes a trustworthy published head, under the exclusive lock: the newest complete
    /// segment, and its end including complete records a crashed writer left past the head.
    private func recoverHead(_ coordinator: Coordinator) throws {
        let names: [String]
        do { names = try PathOps.listDirectory(directory) } catch {
            throw DiskCacheError.io("list", directory, error)
        }
        let segments = names.compactMap(Segment.id(fromName:)).sorted()
        var head = coordinator.publishedHead()
        let fresh = coordinator.isFresh
        if fresh || !segments.contains(head.segment) || (segments.last ?? 0) > head.segment {
            head = LogHead(segment: segments.last ?? 1, end: 0)
        }
        let fd = try openSegment(head.segment, create: true)
        defer { try? fd.close() }
        let size: Int64
        do { size = try fd.fileSize() } catch { throw DiskCacheError.io("stat", segmentPath(head.segment), error) }
        if head.end > size { head.end = 0 }
        // Past the head there is either nothing, a crashed writer's leftovers, or (after a
        // power loss that kept the segment but not the control page) committed records.
        // Complete records and complete groups are adopted; the first torn one ends the log.
        if size > head.end {
            // From the start (the control page is new): skip damage in the middle rather
            // than cutting every record after it; only the torn tail goes.
            let scan = try Segment.scan(fd, from: head.end, to: size, resync: head.end == 0) { _, _, _ in }
            head.end = scan.validEnd
            if scan.validEnd < size {
                do { _ = try fd.resize(to: scan.validEnd) } catch {
                    throw DiskCacheError.io("truncate torn tail of", segmentPath(head.segment), error)
                }
            }
        }
        coordinator.setWriting(false)
        if head != coordinator.publishedHead() || fresh { coordinator.publish(head) }
        for s in segments where s < head.segment { try? PathOps.unlink(segmentPath(s)) }
        Snapshot.removeStale(directory: directory, keep: head.segment, names: names)
    }

    func segmentPath(_ id: UInt64) -> String { directory + "/" + Segment.name(id) }

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

    private func openNetwork() throws {
        let names: [String]
        do { names = try PathOps.listDirectory(directory) } catch {
            throw DiskCacheError.io("list", directory, error)
        }
        if names.contains(LocalCoordinator.fileName) && !names.contains(NetworkLog.markerName),
           names.contains(where: { Segment.id(fromName: $0) != nil }) {
            throw DiskCacheError(.invalidArgument, "Cache directory '\(directory)' holds a local-mode cache; network mode cannot share it with local-mode processes (use a new directory)")
        }
        let log = try NetworkLog(directory: directory, lease: networkLease)
        net = log
        coordinator = log
        do {
            try reload(log.publishedHead())
            try log.lockExclusive(timeout: writer.timeout)
            holdsExclusive = true
            defer {
                holdsExclusive = false
                log.unlockExclusive()
            }
            try catchUp()
            try applyOverrides()
        } catch {
            closeFiles()
            throw error
        }
    }

    /// Whether the cache coordinates in network-filesystem mode.
    public var isNetworkMode: Bool {
        mutex.lock(); defer { mutex.unlock() }
        return net != nil
    }

    /// Reads logical log bytes from the current segment or generation.
    @inline(__always)
    func readLog(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if let net { return try net.read(at: offset, into: buffer) }
        guard let fd = segmentFD else { throw DiskCacheError(.closed, "Cache at '\(directory)' is closed") }
        do {
            return try fd.readAll(at: offset, buffer)
        } catch {
            throw DiskCacheError.io("read", segmentPath(applied.segment), error)
        }
    }

    func openSegment(_ id: UInt64, create: Bool) throws -> FileDescriptor {
        let path = segmentPath(id)
        do {
            return try FileDescriptor.open(FilePath(path), .readWrite, options: create ? [.create, .closeOnExec] : [.closeOnExec], permissions: CreationMode.file)
        } catch let e as Errno {
            throw DiskCacheError.io("open segment", path, e)
        }
    }

    /// Rebuilds the index from the segment named by `head`, up to its end: from a snapshot
    /// plus the records after it when there is one, else from the whole segment.
    func reload(_ head: LogHead) throws {
        if let net {
            var fresh = ShardIndex()
            fresh.bulkLoading = true
            _ = try Segment.scan(reading: { try net.read(at: $0, into: $1) }, from: 0, to: head.end, resync: true) { h, rec, off in
                Self.apply(h, rec, off, to: &fresh)
            }
            fresh.finishBulkLoad()
            applied = head
            index = fresh
            settings = EffectiveSettings(effectiveSettingValues())
            return
        }
        let fd = try openSegment(head.segment, create: false)
        var fresh: ShardIndex
        var start: Int64 = 0
        if let (snap, end) = Snapshot.read(directory: directory, segment: head.segment, upTo: head.end) {
            fresh = snap
            start = end
            snapshotEnd = end
        } else {
            fresh = ShardIndex()
            // Records of small items are rarely under ~160 bytes: a cheap guess at the count.
            fresh.table.reserve(Int(head.end / 160))
        }
        fresh.bulkLoading = true
        do {
            _ = try Segment.scan(fd, from: start, to: head.end, resync: true) { h, rec, off in
                Self.apply(h, rec, off, to: &fresh)
            }
        } catch {
            try? fd.close()
            throw DiskCacheError.io("read segment", segmentPath(head.segment), error as? Errno ?? .ioError)
        }
        fresh.finishBulkLoad()
        if head.end - start >= Snapshot.worthWriting {
            Snapshot.write(directory: directory, index: fresh, head: head)
            snapshotEnd = head.end
        }
        try? segmentFD?.close()
        segmentFD = fd
        segmentID = head.segment
        applied = head
        index = fresh
        settings = EffectiveSettings(effectiveSettingValues())
    }

    /// Applies one record to an index: the single place where records change state, used by
    /// replay, tailing and the writer itself.
    @discardableResult
    static func apply(_ h: RecordHeader, _ rec: UnsafeRawBufferPointer, _ offset: Int64, to index: inout ShardIndex) -> Entry? {
        let key = KeyRef(kind: ItemKind(rawValue: h.keyKind) ?? .blob,
                         bytes: UnsafeRawBufferPointer(rebasing: rec[h.keyOffset..<(h.keyOffset + h.keyLength)]))
        switch h.kind {
        case .put:
            return index.applyPut(h, record: rec, offset: offset)
        case .delete:
            return index.applyDelete(key)
        case .touch:
            index.applyTouch(key, expireTime: h.expireTime)
        case .access:
            index.applyAccess(key, time: h.storeTime, countDelta: Int64(bitPattern: h.aux))
        case .clear:
            index.applyClear()
        case .setting:
            let name = String(decoding: key.bytes, as: UTF8.self)
            if let v = SettingValue(kind: h.valueKind, bytes: UnsafeRawBufferPointer(rebasing: rec[h.valueOffset..<(h.valueOffset + h.valueLength)])) {
                index.applySetting(name, v, recordLength: h.totalLength)
            }
        case .begin, .commit:
            break
        }
        return nil
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
        if coordinator == nil { try open() }
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
        compactingNetwork = false
        guard let coordinator else { return }
        do {
            try coordinator.reopenAfterFork()
            if midWrite { try reload(coordinator.publishedHead()) }
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
        guard let coordinator else { throw DiskCacheError(.closed, "Cache at '\(directory)' is closed") }
        try coordinator.lockExclusive(timeout: deadline.map { max(0, $0 - monotonicClock()) })
        holdsExclusive = true
        do {
            if coordinator.isWriting || coordinator.isFresh {
                // A writer died between writing and publishing (or the control page is new):
                // settle the log's end before anyone appends.
                try recoverHead(coordinator)
            }
            try catchUp()
        } catch {
            releaseExclusive()
            throw error
        }
    }

    func releaseExclusive() {
        holdsExclusive = false
        coordinator?.unlockExclusive()
        if let net, !compactingNetwork, transactionDepth == 0 {
            // Network mode compacts in a write of its own (a claim publishes one batch).
            let batches = net.batchesSinceCheckpoint
            let end = applied.end
            if batches >= max(256, UInt64(index.liveRecordBytes / 16384)) || (end > 4 << 20 && (end - index.liveRecordBytes) * 2 > end),
               compactionBackoff.allows(applied) {
                compactingNetwork = true
                defer { compactingNetwork = false }
                // The write that triggered this is committed: a failure is only reported (see
                // `compactIfWorthIt`).
                do { try compact() } catch {
                    compactionBackoff.failed(DiskCacheError.io("compact", directory, error), at: applied)
                }
            }
        }
    }

    /// Applies records other processes published since this process last looked.
    @inline(__always)
    func catchUp() throws {
        guard let coordinator else { return }
        let head = coordinator.publishedHead()
        if head == applied { return }
        try catchUpSlow(head, coordinator)
    }

    private func catchUpSlow(_ first: LogHead, _ coordinator: Coordinator) throws {
        var head = first
        for _ in 0..<100 {
            if head.segment != applied.segment {
                do {
                    try reload(head)
                    return
                } catch let e as DiskCacheError where e.errno == .noSuchFileOrDirectory {
                    // Compacted again before we opened it: look at the head once more.
                    head = coordinator.publishedHead()
                    continue
                }
            }
            if head.end < applied.end {
                try reload(head)
                return
            }
            let start = applied.end
            do {
                _ = try Segment.scan(reading: { try readLog(at: $0, into: $1) }, from: start, to: head.end, resync: true) { h, rec, off in
                    Self.apply(h, rec, off, to: &index)
                }
            } catch let e as DiskCacheError where net != nil && e.errno == .noSuchFileOrDirectory {
                // A batch we had not read yet was deleted: we are more than a checkpoint
                // behind. Start again from the newest checkpoint.
                try net!.rediscover()
                head = try net!.refresh()
                try reload(head)
                return
            } catch {
                throw DiskCacheError.io("read segment", segmentPath(applied.segment), error)
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
        RecordHeader.append(header, key: key, tag: tag, value: value, to: &pending)
        var h = header
        h.keyLength = key.count
        h.tagLength = tag.count
        h.valueLength = value.count
        let offset = applied.end + Int64(start)
        return pending.withUnsafeBytes { raw in
            Self.apply(h, UnsafeRawBufferPointer(rebasing: raw[start..<(start + h.totalLength)]), offset, to: &index)
        }
    }

    func appendMarker(_ kind: RecordKind) {
        RecordHeader.append(RecordHeader(kind: kind), key: UnsafeRawBufferPointer(start: nil, count: 0), tag: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0), to: &pending)
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
        if let net {
            let end = try net.commit(sync: settings.durability == .sync) { emit in try pending.withUnsafeBytes { try emit($0) } }
            applied = LogHead(segment: net.generation, end: end)
            pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20)
            removeGarbageFiles()
            return
        }
        guard let coordinator, let fd = segmentFD else { throw DiskCacheError(.closed, "Cache at '\(directory)' is closed") }
        coordinator.setWriting(true)
        do {
            try pending.withUnsafeBytes { try fd.writeAll(at: applied.end, $0) }
            if settings.durability == .sync { try Blocking.wait { try fd.syncData() } }
        } catch {
            // Nothing was published: cut whatever part was written so no one adopts it (a
            // later open adopts complete records past the head). If even the cut fails,
            // break the first record's header so the adoption stops before it.
            if (try? fd.resize(to: applied.end)) == nil {
                let zeros = [UInt8](repeating: 0, count: RecordHeader.size)
                _ = try? zeros.withUnsafeBytes { try fd.writeAll(at: applied.end, $0) }
            }
            coordinator.setWriting(false)
            throw DiskCacheError.io("append to", segmentPath(applied.segment), error as? Errno ?? .ioError)
        }
        let head = LogHead(segment: applied.segment, end: applied.end + Int64(pending.count))
        coordinator.publish(head)
        coordinator.setWriting(false)
        applied = head
        pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20)
        removeGarbageFiles()
        compactIfWorthIt()
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
            coordinator?.addStats(hits: pendingHits, misses: pendingMisses)
            pendingHits = 0
            pendingMisses = 0
        }
    }
}
