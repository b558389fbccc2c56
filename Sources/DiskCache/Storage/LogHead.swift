/// Where the log ends, as published to every process: the log (a segment id, or in network
/// mode a generation) and the offset up to which its records are committed. Full 64-bit
/// words: a busy cache starts a segment per compaction for years.
struct LogHead: Equatable {
    var segment: UInt64
    var end: Int64

    init(segment: UInt64, end: Int64) {
        self.segment = segment
        self.end = end
    }
}
