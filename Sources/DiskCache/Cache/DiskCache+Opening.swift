/// Opening a directory: choosing its coordination mode, settling its log and loading the
/// index.
extension DiskCache {
    func open() throws {
        if PathOps.fileSize(directory) != nil && !PathOps.isDirectory(directory) {
            throw DiskCacheError(.notADirectory, "Could not open cache: '\(directory)' exists and is not a directory")
        }
        if isReadOnly {
            guard PathOps.isDirectory(directory) else {
                throw DiskCacheError(.io, "Could not open cache read-only: '\(directory)' is not a directory", errno: .noSuchFileOrDirectory)
            }
        } else {
            do { try PathOps.makeDirectories(directory) } catch {
                throw DiskCacheError.io("create cache directory", directory, error)
            }
        }
        let log: LogStore = try useNetworkMode() ? try openNetworkLog() : try LocalLog(directory: directory, readOnly: isReadOnly)
        self.log = log
        if isReadOnly {
            // No lock and no settling: the published head is what writers left complete.
            do {
                try reload(log.publishedHead())
                try checkOverridesStored()
            } catch {
                closeFiles()
                throw error
            }
            return
        }
        do {
            try log.writers.lock(timeout: writer.timeout)
            holdsExclusive = true
            defer {
                holdsExclusive = false
                log.writers.unlock()
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
    func useNetworkMode() throws -> Bool {
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

    func openNetworkLog() throws -> NetworkLog {
        let names: [String]
        do { names = try PathOps.listDirectory(directory) } catch {
            throw DiskCacheError.io("list", directory, error)
        }
        if names.contains(ControlPage.fileName) && !names.contains(NetworkLog.markerName),
           names.contains(where: { SegmentFile.id(fromName: $0) != nil }) {
            throw DiskCacheError(.invalidArgument, "Cache directory '\(directory)' holds a local-mode cache; network mode cannot share it with local-mode processes (use a new directory)")
        }
        return try NetworkLog(directory: directory, lease: networkLease, readOnly: isReadOnly)
    }

    /// Read-only: settings asked for must be those in effect (they cannot be persisted).
    func checkOverridesStored() throws {
        let effective = effectiveSettingValues()
        for (name, value) in overrides.sorted(by: { $0.key < $1.key }) where effective[name] != value {
            throw DiskCacheError(.readOnly, "Cannot set '\(name)' to \(value) on the cache at '\(directory)': it is open read-only (the stored value is \(effective[name].map { "\($0)" } ?? "unset"))")
        }
    }

    /// Throws `.readOnly` if the cache was opened read-only; called before anything a write
    /// does.
    @inline(__always)
    public func checkWritable() throws {
        if isReadOnly {
            throw DiskCacheError(.readOnly, "Cannot write to the cache at '\(directory)': it is open read-only")
        }
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
        try replay(from: start, to: head.end, into: &fresh)
        fresh.finishBulkLoad()
        applied = head
        index = fresh
        settings = EffectiveSettings(effectiveSettingValues())
        log.indexCaughtUp(index, end: head.end, replayed: head.end - start, closing: false)
    }

    func applyOverrides() throws {
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
}
