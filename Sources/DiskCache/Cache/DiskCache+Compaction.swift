import SystemPackage

extension DiskCache {
    /// Compacts when more than half of a log larger than 4 MiB is dead records. Called after
    /// a write committed, so it never throws: the write took effect and an error would tell
    /// the caller it had not (an `incr` retried, a `pop`ped value lost). A failure is kept
    /// for `check()` and `compactionFailure`, and the next attempt waits for the log to grow.
    func compactIfWorthIt() {
        let end = applied.end
        guard end > 4 << 20, (end - index.liveRecordBytes) * 2 > end else { return }
        guard compactionBackoff.allows(applied) else { return }
        do {
            try compactLocked()
            compactionBackoff.succeeded()
        } catch {
            compactionBackoff.failed(DiskCacheError.io("compact", directory, error), at: applied)
        }
    }

    /// Why the last automatic compaction failed, if it did and none has succeeded since.
    /// The writes that triggered it were committed all the same.
    public var compactionFailure: DiskCacheError? {
        mutex.lock(); defer { mutex.unlock() }
        return compactionBackoff.failure
    }

    /// Rewrites the live records into a new segment, in log order, and switches every process
    /// to it. Records that fail their checksum are left behind.
    public func compact() throws {
        try withWriting {
            try commitPending()
            try compactLocked()
            compactionBackoff.succeeded()
        }
    }

    /// Caller holds the exclusive lock with nothing pending.
    func compactLocked() throws {
        guard let coordinator else { return }
        if let net {
            try compactNetwork(net)
            return
        }
        let newID = applied.segment + 1
        let path = segmentPath(newID)
        let temp = path + ".tmp"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(temp), .readWrite, options: [.create, .truncate, .closeOnExec], permissions: CreationMode.file)
        } catch {
            throw DiskCacheError.io("create segment", temp, error)
        }
        // A crash from here to the publication leaves the flag set: the next writer then
        // settles on the newest complete segment before appending anywhere.
        coordinator.setWriting(true)
        let result: LiveRecords
        do {
            result = try writeLiveRecords { chunk, at in try fd.writeAll(at: at, chunk) }
            try fd.syncData()
            try fd.close()
            try PathOps.rename(temp, path)
        } catch {
            try? fd.close()
            try? PathOps.unlink(temp)
            coordinator.setWriting(false)
            throw DiskCacheError.io("compact into", temp, error)
        }
        let old = applied.segment
        let written = result.written
        let head = LogHead(segment: newID, end: written)
        coordinator.publish(head)
        coordinator.setWriting(false)
        if result.skippedDamage {
            // Items whose records were damaged are gone from the new segment: rebuild.
            try reload(head)
        } else {
            let newFD = try openSegment(newID, create: false)
            try? segmentFD?.close()
            segmentFD = newFD
            segmentID = newID
            for (i, offset) in result.moved { index.table[i].offset = offset }
            applied = head
            snapshotEnd = 0
            if written >= Snapshot.worthWriting {
                Snapshot.write(directory: directory, index: index, head: head)
                snapshotEnd = written
            }
        }
        try? PathOps.unlink(segmentPath(old))
        try? PathOps.unlink(directory + "/" + Snapshot.name(old))
    }

    /// Network mode: the live records become a checkpoint batch under the claim held.
    private func compactNetwork(_ net: NetworkLog) throws {
        var result = LiveRecords()
        let end = try net.commit(sync: settings.durability == .sync, checkpoint: true) { emit in
            result = try writeLiveRecords { chunk, _ in try emit(chunk) }
        }
        let head = LogHead(segment: net.generation, end: end)
        if result.skippedDamage {
            try reload(head)
        } else {
            for (i, offset) in result.moved { index.table[i].offset = offset }
            applied = head
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
    func writeLiveRecords(_ sink: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> LiveRecords {
        var result = LiveRecords()
        var out: [UInt8] = []
        out.reserveCapacity(1 << 22)
        result.moved.reserveCapacity(index.count)
        func flush() throws {
            try out.withUnsafeBytes { try sink($0, result.written) }
            result.written += Int64(out.count)
            out.removeAll(keepingCapacity: true)
        }
        index.encodeSettings(into: &out)
        // In log order: the old log is read front to back, and the eviction orders do not
        // depend on log order (they are built from the entries' stamps).
        let order = index.table.liveIndices.sorted { index.table.entries[$0].offset < index.table.entries[$1].offset }
        for i in order {
            let e = index.table.entries[i]
            let offset = result.written + Int64(out.count)
            try withEntryRecord(e) { h, rec in
                guard var h else {
                    result.skippedDamage = true
                    return
                }
                result.moved.append((i, offset))
                h.expireTime = e.expireTime
                h.aux = UInt64(bitPattern: e.accessCount)
                RecordHeader.append(h, key: UnsafeRawBufferPointer(rebasing: rec[h.keyOffset..<(h.keyOffset + h.keyLength)]),
                                    tag: UnsafeRawBufferPointer(rebasing: rec[h.tagOffset..<(h.tagOffset + h.tagLength)]),
                                    value: UnsafeRawBufferPointer(rebasing: rec[h.valueOffset..<(h.valueOffset + h.valueLength)]), to: &out)
                if e.accessTime != e.storeTime {
                    var a = RecordHeader(kind: .access)
                    a.keyKind = h.keyKind
                    a.storeTime = e.accessTime
                    RecordHeader.append(a, key: UnsafeRawBufferPointer(rebasing: rec[h.keyOffset..<(h.keyOffset + h.keyLength)]),
                                        tag: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0), to: &out)
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
