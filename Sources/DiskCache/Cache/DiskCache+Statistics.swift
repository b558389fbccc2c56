/// Hits and misses, counted in this process and added to the shared counters.
extension DiskCache {
    func countStat(hit: Bool) {
        countStats(hits: hit ? 1 : 0, misses: hit ? 0 : 1)
    }

    func countStats(hits: Int, misses: Int) {
        guard settings.statistics else { return }
        pendingHits += hits
        pendingMisses += misses
        flushStats()
    }

    func flushStats() {
        if pendingHits != 0 || pendingMisses != 0 {
            log?.statistics.add(hits: pendingHits, misses: pendingMisses)
            pendingHits = 0
            pendingMisses = 0
        }
    }
}
