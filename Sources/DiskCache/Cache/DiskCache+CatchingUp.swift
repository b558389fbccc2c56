/// Keeping the index current: applying what other processes published.
extension DiskCache {
    /// Applies records other processes published since this process last looked.
    @inline(__always)
    func catchUp() throws {
        guard let log else { return }
        let head = log.publishedHead()
        if head == applied { return }
        try catchUpSlow(head, log)
    }

    func catchUpSlow(_ first: LogHead, _ log: LogStore) throws {
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
                try replay(from: applied.end, to: head.end, into: &index)
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

    /// Applies the log's records in `[from, to)` to `target`: the one replay, for opening,
    /// catching up and the published view. A long one takes a while: other threads run
    /// meanwhile.
    func replay(from start: Int64, to end: Int64, into target: inout ShardIndex) throws {
        let log = try openLog()
        _ = try Blocking.wait { try log.scan(from: start, to: end, resync: true) { r, off in target.apply(r, offset: off) } }
    }
}
