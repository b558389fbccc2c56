/// Hits and misses, counted in this process and added to the shared counters.
extension DiskCache {
    func countStat(hit: Bool) {
        guard settings.statistics else { return }
        if hit { pendingHits += 1 } else { pendingMisses += 1 }
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
