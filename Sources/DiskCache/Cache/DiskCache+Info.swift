extension DiskCache {
    /// Number of items, expired ones included until they are removed (python-diskcache's
    /// `len`).
    public func count() throws -> Int {
        try withReading { index.count }
    }

    /// Bytes the items take: their records in the log plus their value files.
    public func volume() throws -> Int64 {
        try withReading { index.volume }
    }

    /// Hits and misses counted (when the `statistics` setting is on) by every process.
    public func stats() throws -> (hits: Int64, misses: Int64) {
        try withReading {
            flushStats()
            return log?.statistics.read() ?? (0, 0)
        }
    }

    /// Sets both statistics counters to zero.
    public func resetStats() throws {
        try withWriting {
            flushStats()
            log?.statistics.reset()
        }
    }

    /// The value of a setting: persisted, else the default; nil if neither.
    public func setting(_ name: String) throws -> SettingValue? {
        try withReading { effectiveSettingValues()[name] }
    }

    /// Every setting in effect (defaults merged with persisted ones).
    public func allSettings() throws -> [String: SettingValue] {
        try withReading { effectiveSettingValues() }
    }

    /// Persists a setting for every process using the directory.
    public func updateSetting(_ name: String, _ value: SettingValue) throws {
        try EffectiveSettings.validate(name, value)
        try withWriting {
            if index.settings[name] != value { appendSetting(name, value) }
            settings = EffectiveSettings(effectiveSettingValues())
        }
    }
}
