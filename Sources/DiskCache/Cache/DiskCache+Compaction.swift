import SystemPackage

extension DiskCache {
    /// Compacts when the log says it is worth it, in a write of its own after the write that
    /// made it so (its lock released: in network mode a claim publishes one batch). That write
    /// committed, so this never throws: an error would tell the caller it had not (an `incr`
    /// retried, a `pop`ped value lost). A failure is kept for `check()` and
    /// `compactionFailure`, and the next attempt waits for the log to grow.
    func compactIfDue() {
        guard !compacting, transactionDepth == 0, !holdsExclusive, compactionIsDue else { return }
        if NoWait.isActive {
            // Left for the next write outside the mode (`performDeferredWork`).
            deferredWork.store(true, ordering: .relaxed)
            return
        }
        compacting = true
        defer { compacting = false }
        do {
            try compact()
        } catch {
            compactionBackoff.failed(DiskCacheError.io("compact", directory, error), at: applied)
        }
    }

    /// Whether an automatic compaction is due. Caller holds `mutex`.
    var compactionIsDue: Bool {
        guard let log else { return false }
        return log.compactionDue(end: applied.end, liveBytes: index.liveRecordBytes) && compactionBackoff.allows(applied)
    }

    /// Why the last automatic compaction failed, if it did and none has succeeded since.
    /// The writes that triggered it were committed all the same.
    public var compactionFailure: DiskCacheError? {
        mutex.lock(); defer { mutex.unlock() }
        return compactionBackoff.failure
    }

    /// Rewrites the live records into a new log, in log order, and switches every process
    /// to it. Records that fail their checksum are left behind.
    public func compact() throws {
        try NoWait.refuse("compaction")
        try withWriting {
            try commitPending()
            try compactLocked()
            compactionBackoff.succeeded()
        }
    }

    /// Caller holds the exclusive lock with nothing pending.
    func compactLocked() throws {
        let log = try openLog()
        var result = LiveRecords()
        let head = try log.compact(sync: settings.durability == .sync) { salt, sink in
            result = try writeLiveRecords(salt: salt, sink)
        }
        if result.skippedDamage {
            // Items whose records were damaged are gone from the new log: rebuild.
            try reload(head)
        } else {
            for (i, offset) in result.moved { index.table[i].offset = offset }
            applied = head
            log.indexCaughtUp(index, end: head.end, replayed: head.end, closing: false)
        }
    }

    struct LiveRecords {
        /// Where each live entry's record landed.
        var moved: [(entry: Int, offset: Int64)] = []
        var skippedDamage = false
        var written: Int64 = 0
    }

    /// Writes the settings and every live record (with its access stamp) in log order to
    /// `sink`, in chunks of up to 4 MiB with their offsets from 0, so the index can be updated
    /// in place instead of being rebuilt. Records that fail their checksum are left behind.
    /// Records are bound to their new places in a log with `salt`.
    func writeLiveRecords(salt: UInt64, _ sink: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> LiveRecords {
        var result = LiveRecords()
        var out: [UInt8] = []
        out.reserveCapacity(1 << 22)
        result.moved.reserveCapacity(index.count)
        func flush() throws {
            try out.withUnsafeBytes { try sink($0, result.written) }
            result.written += Int64(out.count)
            out.removeAll(keepingCapacity: true)
        }
        index.encodeSettings(into: &out, salt: salt, base: 0)
        // In log order: the old log is read front to back, and the eviction orders do not
        // depend on log order (they are built from the entries' stamps).
        let order = index.table.liveIndices.sorted { index.table.entries[$0].offset < index.table.entries[$1].offset }
        for i in order {
            let e = index.table.entries[i]
            let offset = result.written + Int64(out.count)
            try withEntryRecord(e) { r in
                guard var r else {
                    result.skippedDamage = true
                    return
                }
                result.moved.append((i, offset))
                r.header.aux = UInt64(bitPattern: e.accessCount)
                RecordHeader.append(r, to: &out, salt: salt, base: result.written)
                if e.accessTime != e.storeTime {
                    var a = RecordHeader(kind: .access)
                    a.keyKind = r.header.keyKind
                    a.storeTime = e.accessTime
                    RecordHeader.append(a, key: r.key,
                                        tag: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0),
                                        to: &out, salt: salt, base: result.written)
                }
            }
            if out.count >= 1 << 22 { try flush() }
        }
        try flush()
        return result
    }
}

/// When an automatic compaction that failed is tried again. Retrying after every write would
/// rewrite the whole live set per write while the cause (typically a full disk) lasts; waiting
/// until the log has grown by half again keeps the retries' cost proportional to what was
/// written (each attempt writes at most the live records, under half of the log).
struct CompactionBackoff {
    private(set) var failure: DiskCacheError?
    private var failedAt = LogHead(segment: 0, end: 0)

    func allows(_ head: LogHead) -> Bool {
        guard failure != nil else { return true }
        // Another process compacted meanwhile: a fresh start.
        return head.segment != failedAt.segment || head.end >= failedAt.end + failedAt.end / 2
    }

    mutating func failed(_ error: DiskCacheError, at head: LogHead) {
        failure = error
        failedAt = head
    }

    mutating func succeeded() {
        failure = nil
    }
}
