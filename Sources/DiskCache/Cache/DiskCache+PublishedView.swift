/// Reads from other threads while one thread has a transaction open.
///
/// A transaction holds the writer slot (see `WriterSlot`) from its beginning to its end, but
/// the state mutex only for the span of each operation inside it. Between those operations
/// another thread of the process may read; `index` then holds the transaction's uncommitted
/// records, which it must not see (python-diskcache, over SQLite in WAL mode with a connection
/// per thread, serves such a read at once with the committed value). Making it wait for the
/// transaction instead deadlocks a body that waits for such a thread.
///
/// So those reads run against a second index reflecting the published head, as another
/// process would see it. The transaction holds the process lock, so the published head is
/// the transaction's base (`applied`): the log up to there is on disk and does not change
/// while the transaction lasts. The view is built on first need (from the segment's snapshot
/// and the records after it, or the whole log) and later brought forward incrementally like
/// any tailing reader; it lives until the cache is closed. Its cost, memory for a second
/// index, is paid only by processes that read from one thread while writing in a transaction
/// on another.
struct PublishedView {
    var index: ShardIndex
    var head: LogHead
}

extension DiskCache {
    /// Whether the calling thread must read through the published view: another thread is
    /// between the operations of its transaction. Caller holds `mutex`.
    @inline(__always)
    var readsPublishedView: Bool {
        holdsExclusive && !writer.isHeldByCurrentThread
    }

    /// Runs a read against the published state. Caller holds `mutex`.
    func withPublishedView<R>(_ body: () throws -> R) throws -> R {
        let head = applied
        if NoWait.isActive && !(publishedView.map { $0.head == head } ?? false) {
            throw NoWait.error("building the published view")
        }
        if var view = publishedView, view.head.segment == head.segment, view.head.end <= head.end {
            publishedView = nil
            if view.head.end < head.end {
                try replay(from: view.head.end, to: head.end, into: &view.index)
                view.head = head
            }
            publishedView = view
        } else {
            publishedView = nil
            var fresh = ShardIndex()
            var start: Int64 = 0
            if let (snapshot, end) = try openLog().snapshotIndex(upTo: head.end) {
                fresh = snapshot
                start = end
            }
            fresh.bulkLoading = true
            try replay(from: start, to: head.end, into: &fresh)
            fresh.finishBulkLoad()
            publishedView = PublishedView(index: fresh, head: head)
        }
        // The view's index stands in for the writer's for the span of the read (both under
        // `mutex`, so the writer never sees the swap).
        swap(&index, &publishedView!.index)
        defer { swap(&index, &publishedView!.index) }
        return try body()
    }
}
