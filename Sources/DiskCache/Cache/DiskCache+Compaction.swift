import SystemPackage

extension DiskCache {
    /// Compacts when more than half of a log larger than 4 MiB is dead records.
    func compactIfWorthIt() throws {
        let end = applied.end
        guard end > 4 << 20, (end - index.liveRecordBytes) * 2 > end else { return }
        try compactLocked()
    }

    /// Rewrites the live records into a new segment, in log order, and switches every process
    /// to it. Records that fail their checksum are left behind.
    public func compact() throws {
        try withWriting {
            try commitPending()
            try compactLocked()
        }
    }

    /// Caller holds the exclusive lock with nothing pending.
    func compactLocked() throws {
        guard let coordinator else { return }
        let newID = applied.segment + 1
        let path = segmentPath(newID)
        let temp = path + ".tmp"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(temp), .readWrite, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw DiskCacheError.io("create segment", temp, error)
        }
        // A crash from here to the publication leaves the flag set: the next writer then
        // settles on the newest complete segment before appending anywhere.
        coordinator.setWriting(true)
        var out: [UInt8] = []
        out.reserveCapacity(1 << 22)
        var written: Int64 = 0
        // Where each live entry's record lands, so the index is updated in place instead of
        // being rebuilt from the new segment.
        var moved: [(entry: Int, offset: Int64)] = []
        moved.reserveCapacity(index.count)
        var skippedDamage = false
        func flush() throws {
            try out.withUnsafeBytes { try fd.writeAll(at: written, $0) }
            written += Int64(out.count)
            out.removeAll(keepingCapacity: true)
        }
        do {
            index.encodeSettings(into: &out)
            // In log order: the old segment is read front to back, and the eviction orders do
            // not depend on log order (they are built from the entries' stamps).
            let order = index.table.liveIndices.sorted { index.table.entries[$0].offset < index.table.entries[$1].offset }
            for i in order {
                let e = index.table.entries[i]
                let offset = written + Int64(out.count)
                try withEntryRecord(e) { h, rec in
                    guard var h else {
                        skippedDamage = true
                        return
                    }
                    moved.append((i, offset))
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
        let head = LogHead(segment: newID, end: written)
        coordinator.publish(head)
        coordinator.setWriting(false)
        if skippedDamage {
            // Items whose records were damaged are gone from the new segment: rebuild.
            try reload(head)
        } else {
            let newFD = try openSegment(newID, create: false)
            try? segmentFD?.close()
            segmentFD = newFD
            segmentID = newID
            for (i, offset) in moved { index.table[i].offset = offset }
            applied = head
            if written >= Snapshot.worthWriting {
                Snapshot.write(directory: directory, index: index, head: head)
            }
        }
        try? PathOps.unlink(segmentPath(old))
        try? PathOps.unlink(directory + "/" + Snapshot.name(old))
    }
}
