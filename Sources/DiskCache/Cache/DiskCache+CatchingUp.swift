/// Keeping the index current: applying what other processes published.
extension DiskCache {
    /// Applies records other processes published since this process last looked.
    @inline(__always)
    func catchUp() throws {
        guard let log else { return }
        let head = log.publishedHead()
        if head == applied { return }
        if NoWait.isActive { return try catchUpWithoutWaiting(head, log) }
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

    /// A catch-up in "attempt without waiting" mode: a few bytes appended to the segment this
    /// process has mapped are applied from the mapping (memory another process just wrote, in
    /// the page cache); anything else would wait.
    func catchUpWithoutWaiting(_ head: LogHead, _ log: LogStore) throws {
        guard head.segment == applied.segment, head.end >= applied.end, head.end - applied.end <= NoWait.catchUpLimit,
              log.mapped(at: applied.end, count: Int(head.end - applied.end)) != nil else {
            throw NoWait.error("catching up with another process's writes")
        }
        _ = try Segment.scan(reading: { offset, buffer in
            // Below the published head: in the file and in the mapping.
            let n = Int(min(Int64(buffer.count), head.end - offset))
            buffer.copyMemory(from: log.mapped(at: offset, count: n)!)
            return n
        }, from: applied.end, to: head.end, salt: log.salt, source: log.name, resync: true) { r, off in index.apply(r, offset: off) }
        applied = head
        if index.settings.count > 0 { settings = EffectiveSettings(effectiveSettingValues()) }
    }

    /// Applies the log's records in `[from, to)` to `target`: the one replay, for opening,
    /// catching up and the published view. A long one takes a while: other threads run
    /// meanwhile.
    func replay(from start: Int64, to end: Int64, into target: inout ShardIndex) throws {
        let log = try openLog()
        _ = try Blocking.wait { try log.scan(from: start, to: end, resync: true) { r, off in target.apply(r, offset: off) } }
    }
}
