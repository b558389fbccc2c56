extension DiskCache {
    /// Number of items, expired ones included until they are removed (python-diskcache's
    /// `len`).
    public func count() throws -> Int {
        try withSharedReading { index.count }
    }

    /// Bytes the items take: their records in the log plus their value files.
    public func volume() throws -> Int64 {
        try withSharedReading { index.volume }
    }

    /// Hits and misses of reads (`get`, `withItem`; `contains` does not count), summed over
    /// every process of the host using the directory (network mode: this process's).
    ///
    /// Counted only while the `statistics` setting is on, and it is off by default: it is
    /// python-diskcache's default, and the setting is the directory's, shared with every
    /// process and language using it. While it is off this returns what was counted before
    /// (zeros for a new cache). Turn it on when opening, `DiskCache(directory:statistics:
    /// true)`, or later, `updateSetting(SettingName.statistics, .int(1))`. Its cost is an
    /// atomic add in a page shared between processes per read.
    public func stats() throws -> (hits: Int64, misses: Int64) {
        try withSharedReading {
            return log?.statistics.read() ?? (0, 0)
        }
    }

    /// Sets both statistics counters to zero.
    public func resetStats() throws {
        try withWriting {
            log?.statistics.reset()
        }
    }

    /// The value of a setting: persisted, else the default; nil if neither.
    public func setting(_ name: String) throws -> SettingValue? {
        try withSharedReading { effectiveSettingValues()[name] }
    }

    /// Every setting in effect (defaults merged with persisted ones).
    public func allSettings() throws -> [String: SettingValue] {
        try withSharedReading { effectiveSettingValues() }
    }

    /// Persists a setting for every process using the directory.
    ///
    /// - Throws: `.invalidArgument` naming the setting if it is unknown (unless the cache was
    ///   opened with `Leniency.anySettingName`) or the value is invalid; nothing is stored.
    public func updateSetting(_ name: String, _ value: SettingValue) throws {
        try EffectiveSettings.validate(name, value, anyName: leniency.contains(.anySettingName))
        try withWriting {
            if index.settings[name] != value { appendSetting(name, value) }
            settings = EffectiveSettings(effectiveSettingValues())
        }
    }
}
