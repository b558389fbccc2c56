/// Hits and misses, added to the shared counters as they happen (atomically: reads that run
/// at once under the shared lock count too).
extension DiskCache {
    @inline(__always)
    func countStat(hit: Bool) {
        guard settings.statistics else { return }
        log?.statistics.add(hits: hit ? 1 : 0, misses: hit ? 0 : 1)
    }
}
