/// The running write's records: appended to a buffer and applied to the index at once,
/// then committed to the log (or rolled back) as a whole.
extension DiskCache {
    /// Appends a record to the running write and applies it to the index at once, so later
    /// operations in the same write see it. Returns the entry it replaced or removed.
    @discardableResult
    func appendRecord(_ header: RecordHeader, key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), known: ShardIndex.Lookup? = nil) -> Entry? {
        let start = pending.count
        RecordHeader.append(header, key: key, tag: tag, value: value, to: &pending, salt: log?.salt ?? 0, base: applied.end)
        var h = header
        h.keyLength = key.count
        h.tagLength = tag.count
        h.valueLength = value.count
        let offset = applied.end + Int64(start)
        return pending.withUnsafeBytes { raw in
            index.apply(RecordView(h, UnsafeRawBufferPointer(rebasing: raw[start...]))!, offset: offset, known: known)
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
        for name in removeOnRollback { removeValueFile(name) }
        removeOnRollback.removeAll()
        do { try reload(applied) } catch { closeFiles() }
    }

    func removeGarbageFiles() {
        if NoWait.isActive {
            // Unlinking waits for the filesystem and comes after the commit: left for the next
            // write outside the mode (`performDeferredWork`).
            deferredRemovals += removeAfterCommit
            if !removeAfterCommit.isEmpty { deferredWork.store(true, ordering: .relaxed) }
        } else {
            for name in deferredRemovals { removeValueFile(name) }
            deferredRemovals.removeAll()
            for name in removeAfterCommit { removeValueFile(name) }
        }
        removeAfterCommit.removeAll()
    }

    /// Removes a value file, or lists it for the binding that removes them itself. A failed
    /// store may let go of its file twice (rollback, then the store's own cleanup): listed once.
    func removeValueFile(_ name: String) {
        mutex.lock(); defer { mutex.unlock() }
        guard reportsRemovals else {
            ValueFiles.remove(directory: directory, name: name)
            return
        }
        if removedValueFiles.last != name { removedValueFiles.append(name) }
    }

    /// Notes that a removed or replaced entry's value file is garbage once the write commits.
    func discard(_ old: Entry?) {
        guard let old, old.isExternal else { return }
        if let name = try? externalValue(of: old)?.name { removeAfterCommit.append(name) }
    }
}
