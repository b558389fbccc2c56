/// An open-addressing hash table from key identity to `Entry`, with the identities packed in
/// one arena: no allocation per key and none per lookup.
struct KeyTable {
    /// 0 = empty; otherwise (upper 32 bits of the hash) << 32 | (entry index + 1).
    private(set) var slots = LargeArray<UInt64>(repeating: 0, count: 1024)
    private(set) var entries = LargeArray<Entry>()
    private var freeEntries: [Int32] = []
    private(set) var arena = LargeArray<UInt8>()
    private var arenaGarbage = 0
    private(set) var count = 0
    /// The hash's secret key (see `keyedHash`).
    private(set) var hashKey = HashKey.random()

    @inline(__always) private var mask: Int { slots.count - 1 }

    init() {}

    /// The parts a snapshot stores and restores, verbatim.
    struct Parts {
        var slots: LargeArray<UInt64>
        var entries: LargeArray<Entry>
        var freeEntries: [Int32]
        var arena: LargeArray<UInt8>
        var arenaGarbage: Int
        var count: Int
        var hashKey: HashKey
    }

    var parts: Parts {
        Parts(slots: slots, entries: entries, freeEntries: freeEntries, arena: arena, arenaGarbage: arenaGarbage, count: count, hashKey: hashKey)
    }

    init(parts p: Parts) {
        slots = p.slots
        entries = p.entries
        freeEntries = p.freeEntries
        arena = p.arena
        arenaGarbage = p.arenaGarbage
        count = p.count
        hashKey = p.hashKey
    }

    /// The hash that places an identity in this table.
    @inline(__always)
    func hash(_ cls: IdentityClass, _ key: UnsafeRawBufferPointer) -> UInt64 {
        keyedHash(cls, key, key: hashKey)
    }

    /// The entry index holding this identity, if any.
    @inline(__always)
    func find(_ cls: IdentityClass, _ key: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        let tag = hash >> 32
        var i = Int(truncatingIfNeeded: hash) & mask
        return slots.withUnsafeBufferPointer { s in
            while true {
                let slot = s[i]
                if slot == 0 { return nil }
                if slot >> 32 == tag {
                    let e = Int(slot & 0xFFFF_FFFF) - 1
                    if matches(e, cls, key) { return e }
                }
                i = (i + 1) & mask
            }
        }
    }

    @inline(__always)
    func matches(_ e: Int, _ cls: IdentityClass, _ key: UnsafeRawBufferPointer) -> Bool {
        let entry = entries[e]
        guard entry.keyLength == key.count + 1 else { return false }
        return arena.withUnsafeBytes { a in
            guard a[entry.keyStart] == cls.rawValue else { return false }
            if key.count == 0 { return true }
            return memcmpEqual(a.baseAddress! + entry.keyStart + 1, key.baseAddress!, key.count)
        }
    }

    /// Adds a new identity (which must not be present) and returns its entry index.
    mutating func insert(_ cls: IdentityClass, _ key: UnsafeRawBufferPointer, hash: UInt64, entry: Entry) -> Int {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        var e = entry
        e.live = true
        e.keyStart = arena.count
        e.keyLength = key.count + 1
        arena.append(cls.rawValue)
        arena.append(contentsOf: key)
        let index: Int
        if let free = freeEntries.popLast() {
            index = Int(free)
            entries[index] = e
        } else {
            index = entries.count
            entries.append(e)
        }
        place(index, hash: hash)
        count += 1
        return index
    }

    private mutating func place(_ index: Int, hash: UInt64) {
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = (hash >> 32) << 32 | UInt64(index + 1)
    }

    private mutating func grow() {
        slots = LargeArray(repeating: 0, count: slots.count * 2)
        for i in entries.indices where entries[i].live { place(i, hash: hashOf(i)) }
    }

    /// Removes an entry; backward-shift deletion keeps probe chains without tombstones.
    mutating func remove(_ index: Int) {
        guard let i = slot(of: index) else {
            // No slot names it (a snapshot's tables do not check that every entry is in its
            // probe chain): there is nothing to unlink, only the entry to free.
            free(index)
            return
        }
        var hole = i
        var j = (i + 1) & mask
        while slots[j] != 0 {
            let e = Int(slots[j] & 0xFFFF_FFFF) - 1
            let home = Int(truncatingIfNeeded: hashOf(e)) & mask
            // Move j into the hole if its home is not cyclically within (hole, j].
            let distHome = (j - home) & mask
            let distHole = (j - hole) & mask
            if distHome >= distHole {
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole] = 0
        free(index)
    }

    /// The slot naming an entry: on its probe chain, else (a table not built here) anywhere.
    private func slot(of index: Int) -> Int? {
        let named = UInt64(index + 1)
        var i = Int(truncatingIfNeeded: hashOf(index)) & mask
        while slots[i] != 0 {
            if slots[i] & 0xFFFF_FFFF == named { return i }
            i = (i + 1) & mask
        }
        return slots.indices.first { slots[$0] != 0 && slots[$0] & 0xFFFF_FFFF == named }
    }

    private mutating func free(_ index: Int) {
        arenaGarbage += entries[index].keyLength
        entries[index].live = false
        freeEntries.append(Int32(index))
        count -= 1
        if arenaGarbage > 1 << 20 && arenaGarbage * 2 > arena.count { compactArena() }
    }

    /// Sizes the table for about `count` keys at once (a full replay), so it is not regrown
    /// (and every hash recomputed) a dozen times on the way.
    mutating func reserve(_ count: Int) {
        var size = slots.count
        while size * 3 < count * 4 { size *= 2 }
        if size > slots.count {
            slots = LargeArray(repeating: 0, count: size)
            for i in entries.indices where entries[i].live { place(i, hash: hashOf(i)) }
        }
        entries.reserveCapacity(count)
    }

    /// An entry's hash, recomputed from its identity (cheaper than 8 bytes per entry).
    @inline(__always)
    func hashOf(_ index: Int) -> UInt64 {
        let e = entries[index]
        return arena.withUnsafeBytes { a in
            let cls = IdentityClass(rawValue: a[e.keyStart]) ?? .blob
            return hash(cls, UnsafeRawBufferPointer(rebasing: a[(e.keyStart + 1)..<(e.keyStart + e.keyLength)]))
        }
    }

    /// Removes every entry.
    mutating func removeAll() {
        self = KeyTable()
    }

    private mutating func compactArena() {
        var fresh = LargeArray<UInt8>()
        fresh.reserveCapacity(arena.count - arenaGarbage)
        arena.withUnsafeBytes { a in
            for i in entries.indices where entries[i].live {
                let start = fresh.count
                fresh.append(contentsOf: UnsafeRawBufferPointer(rebasing: a[entries[i].keyStart..<(entries[i].keyStart + entries[i].keyLength)]))
                entries[i].keyStart = start
            }
        }
        arena = fresh
        arenaGarbage = 0
    }

    subscript(index: Int) -> Entry {
        get { entries[index] }
        _modify { yield &entries[index] }
    }

    /// The identity class and canonical bytes of an entry's key.
    func identity(of index: Int) -> (IdentityClass, [UInt8]) {
        let e = entries[index]
        return arena.withUnsafeBytes { a in
            (IdentityClass(rawValue: a[e.keyStart]) ?? .blob, Array(a[(e.keyStart + 1)..<(e.keyStart + e.keyLength)]))
        }
    }

    /// Indices of live entries, in table order.
    var liveIndices: [Int] { entries.indices.filter { entries[$0].live } }

    func _checkInvariants() {
        var seen = 0
        for i in slots.indices where slots[i] != 0 {
            let e = Int(slots[i] & 0xFFFF_FFFF) - 1
            precondition(entries[e].live, "slot points at a free entry")
            seen += 1
        }
        precondition(seen == count, "slot count \(seen) != count \(count)")
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
    var i = 0
    while i + 8 <= n {
        if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < n {
        if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i += 1
    }
    return true
}
