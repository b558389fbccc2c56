#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

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
                _ = try log.scan(from: applied.end, to: head.end, resync: true) { r, off in index.apply(r, offset: off) }
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
}
