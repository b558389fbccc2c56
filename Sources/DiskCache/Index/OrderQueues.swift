/// A FIFO of entry references that go stale instead of being removed: an item is valid while
/// its entry is live, has the same rowid and the same stamp (store or access time). Gives
/// least-recently-stored / -used victims in amortised O(1).
struct StampQueue {
    struct Item {
        var entry: Int32
        var rowid: Int64
        var stamp: Double
    }
    private(set) var items: [Item] = []
    private var head = 0

    var pendingCount: Int { items.count - head }

    mutating func push(_ entry: Int, rowid: Int64, stamp: Double) {
        items.append(Item(entry: Int32(entry), rowid: rowid, stamp: stamp))
    }

    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        head = 0
    }

    /// The oldest valid items, up to `limit`, without removing them; stale ones met on the way
    /// are dropped.
    mutating func oldest(_ limit: Int, isValid: (Item) -> Bool) -> [Item] {
        var out: [Item] = []
        var i = head
        while i < items.count && out.count < limit {
            if isValid(items[i]) {
                out.append(items[i])
            } else if i == head {
                head += 1
            }
            i += 1
        }
        if head > 4096 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return out
    }

    /// Rebuilds from scratch in stamp order (after a full replay or when mostly stale).
    mutating func rebuild(_ fresh: [Item]) {
        items = fresh.sorted { $0.stamp != $1.stamp ? $0.stamp < $1.stamp : $0.rowid < $1.rowid }
        head = 0
    }
}

/// A binary min-heap of (expire time, entry) with lazy invalidation, for culling expired keys
/// in ascending expire-time order.
struct ExpiryHeap {
    struct Item {
        var expire: Double
        var entry: Int32
        var rowid: Int64
    }
    private(set) var items: [Item] = []

    var count: Int { items.count }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ item: Item) {
        items.append(item)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].expire <= items[i].expire { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    var min: Item? { items.first }

    mutating func popMin() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].expire < items[m].expire { m = l }
            if r < items.count && items[r].expire < items[m].expire { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
    }
}

/// Sorted numbers (exact for integers below 2^53) with cheap removal at the front: the keys of one push/pull queue.
struct SortedNumbers {
    private var storage: [Double] = []
    private var start = 0

    var isEmpty: Bool { start == storage.count }
    var first: Double? { isEmpty ? nil : storage[start] }
    var last: Double? { isEmpty ? nil : storage[storage.count - 1] }
    var values: ArraySlice<Double> { storage[start...] }

    private func position(of v: Double) -> Int {
        var lo = start, hi = storage.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if storage[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func insert(_ v: Double) {
        if let l = last, v > l { storage.append(v); return }
        if start > 0, let f = first, v < f { start -= 1; storage[start] = v; return }
        let p = position(of: v)
        if p < storage.count && storage[p] == v { return }
        storage.insert(v, at: p)
    }

    mutating func remove(_ v: Double) {
        let p = position(of: v)
        guard p < storage.count && storage[p] == v else { return }
        if p == start {
            start += 1
            if start > 1024 && start * 2 > storage.count {
                storage.removeFirst(start)
                start = 0
            }
        } else {
            storage.remove(at: p)
        }
    }
}
