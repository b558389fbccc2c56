#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// A read-only-shared, copy-on-write file mapping that one or more `LargeArray`s point into
/// (an index snapshot mapped `MAP_PRIVATE`: pages are read from the page cache on first
/// touch and copied by the kernel on first write; the file never changes).
final class FileMapping: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let length: Int

    init?(_ fd: FileDescriptor, length: Int) {
        guard length > 0, let p = try? MemoryMap.file(fd, length: length, .copyOnWrite) else { return nil }
        base = p
        self.length = length
    }

    deinit { MemoryMap.unmap(base, length: length) }
}

/// A growable array of plain values for the index's large tables, with value semantics
/// (copy on write) like `Array`, whose elements can live in a `FileMapping` (so a snapshot
/// opens without copying) or in memory of its own. Its own memory comes from anonymous
/// mappings advised to use huge pages when large, which makes filling a table of millions
/// of entries fault 512 times less often.
struct LargeArray<Element: BitwiseCopyable>: @unchecked Sendable {
    final class Storage: @unchecked Sendable {
        var base: UnsafeMutablePointer<Element>
        var count: Int
        var capacity: Int
        /// Set when `base` points into a file mapping (kept alive here).
        let mapping: FileMapping?
        /// Bytes of our own anonymous mapping, 0 when `base` is in `mapping` or on the heap.
        var ownedBytes: Int
        /// Whether `base` came from the heap (small arrays: a mapping each would cost two
        /// system calls and a page).
        let onHeap: Bool
        static var mapThreshold: Int { 1 << 20 }

        init(capacity: Int) {
            count = 0
            mapping = nil
            let bytes = LargeArray.roundedBytes(max(capacity, 1))
            if bytes < Storage.mapThreshold {
                self.capacity = max(capacity, 1)
                base = .allocate(capacity: self.capacity)
                ownedBytes = 0
                onHeap = true
                return
            }
            guard let p = try? MemoryMap.anonymous(length: bytes) else { fatalError("out of memory: could not map \(bytes) bytes for the index") }
            base = p.bindMemory(to: Element.self, capacity: bytes / MemoryLayout<Element>.stride)
            self.capacity = bytes / MemoryLayout<Element>.stride
            ownedBytes = bytes
            onHeap = false
        }

        init(mapping: FileMapping, offset: Int, count: Int, capacity: Int) {
            base = (mapping.base + offset).bindMemory(to: Element.self, capacity: capacity)
            self.count = count
            self.capacity = capacity
            self.mapping = mapping
            ownedBytes = 0
            onHeap = false
        }

        deinit {
            if ownedBytes > 0 { MemoryMap.unmap(base, length: ownedBytes) }
            if onHeap { base.deallocate() }
        }
    }

    private var storage: Storage

    /// Page-rounded byte size for `count` elements.
    static func roundedBytes(_ count: Int) -> Int {
        let bytes = count * MemoryLayout<Element>.stride
        return (bytes + 4095) & ~4095
    }

    init() { storage = Storage(capacity: 0) }

    init(repeating value: Element, count: Int) {
        storage = Storage(capacity: count)
        // Fresh anonymous mappings are zero: only other values, or heap memory, need writing.
        if storage.onHeap || !LargeArray.isZero(value) { storage.base.initialize(repeating: value, count: count) }
        storage.count = count
    }

    /// Elements already in a mapping (`count` of them at `offset`, room for `capacity`).
    init(mapping: FileMapping, offset: Int, count: Int, capacity: Int) {
        storage = Storage(mapping: mapping, offset: offset, count: count, capacity: capacity)
    }

    private static func isZero(_ value: Element) -> Bool {
        Swift.withUnsafeBytes(of: value) { $0.allSatisfy { $0 == 0 } }
    }

    @inline(__always) var count: Int { storage.count }
    @inline(__always) var isEmpty: Bool { storage.count == 0 }
    @inline(__always) var indices: Range<Int> { 0..<storage.count }

    @inline(__always)
    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { reallocate(capacity: storage.capacity) }
    }

    private mutating func reallocate(capacity: Int) {
        let bytes = LargeArray.roundedBytes(capacity)
        if storage.ownedBytes > 0, bytes > storage.ownedBytes, isKnownUniquelyReferenced(&storage),
           let moved = MemoryMap.grow(UnsafeMutableRawPointer(storage.base), from: storage.ownedBytes, to: bytes) {
            // Growing our own mapping: the kernel moves the pages, nothing is copied and the
            // old and new tables never exist side by side (a million entries: 80 MB).
            storage.base = moved.bindMemory(to: Element.self, capacity: bytes / MemoryLayout<Element>.stride)
            storage.ownedBytes = bytes
            storage.capacity = bytes / MemoryLayout<Element>.stride
            return
        }
        let fresh = Storage(capacity: capacity)
        fresh.base.update(from: storage.base, count: storage.count)
        fresh.count = storage.count
        storage = fresh
    }

    subscript(i: Int) -> Element {
        @inline(__always) get {
            precondition(i >= 0 && i < storage.count, "LargeArray index out of range")
            return storage.base[i]
        }
        @inline(__always) _modify {
            precondition(i >= 0 && i < storage.count, "LargeArray index out of range")
            makeUnique()
            yield &storage.base[i]
        }
    }

    mutating func reserveCapacity(_ n: Int) {
        if n > storage.capacity { reallocate(capacity: n) } else { makeUnique() }
    }

    @inline(__always)
    mutating func append(_ value: Element) {
        makeUnique()
        if storage.count == storage.capacity { reallocate(capacity: max(16, storage.capacity * 2)) }
        storage.base[storage.count] = value
        storage.count += 1
    }

    mutating func append(contentsOf bytes: UnsafeRawBufferPointer) where Element == UInt8 {
        guard bytes.count > 0 else { return }
        makeUnique()
        if storage.count + bytes.count > storage.capacity {
            reallocate(capacity: max(storage.count + bytes.count, storage.capacity * 2))
        }
        UnsafeMutableRawPointer(storage.base + storage.count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        storage.count += bytes.count
    }

    @inline(__always)
    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    @inline(__always)
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: storage.count * MemoryLayout<Element>.stride))
    }
}
