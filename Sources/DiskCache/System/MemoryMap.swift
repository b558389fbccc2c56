#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Memory mappings: the one place the engine calls `mmap` and its relatives.
enum MemoryMap {
    /// How a file is mapped.
    enum Sharing {
        /// Read-only, sharing the page cache: other processes' writes to the file show.
        case readOnlyShared
        /// Readable and writable, shared with every process that maps the file.
        case readWriteShared
        /// Readable and writable, copy on write: the file never changes.
        case copyOnWrite
    }

    /// Maps `length` bytes of a file from offset 0 (the range may extend past its end).
    ///
    /// The corresponding C function is `mmap`.
    static func file(_ fd: FileDescriptor, length: Int, _ sharing: Sharing) throws(Errno) -> UnsafeMutableRawPointer {
        let (prot, flags): (Int32, Int32) = switch sharing {
        case .readOnlyShared: (PROT_READ, MAP_SHARED)
        case .readWriteShared: (PROT_READ | PROT_WRITE, MAP_SHARED)
        case .copyOnWrite: (PROT_READ | PROT_WRITE, MAP_PRIVATE)
        }
        let p = mmap(nil, length, prot, flags, fd.rawValue, 0)
        guard let p, p != MAP_FAILED else { throw Errno(rawValue: errno) }
        return p
    }

    /// Zeroed private memory of `length` bytes (a multiple of the page size), advised to use
    /// huge pages when large.
    ///
    /// The corresponding C function is `mmap` with `MAP_ANONYMOUS`.
    static func anonymous(length: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { throw Errno(rawValue: errno) }
        preferHugePages(p, length: length)
        return p
    }

    /// Grows an anonymous mapping, letting the kernel move its pages instead of copying them;
    /// nil if it cannot.
    ///
    /// The corresponding C function is `mremap` with `MREMAP_MAYMOVE`.
    static func grow(_ p: UnsafeMutableRawPointer, from old: Int, to new: Int) -> UnsafeMutableRawPointer? {
        guard let moved = dcs_mremap(p, old, new) else { return nil }
        preferHugePages(moved, length: new)
        return moved
    }

    /// The corresponding C function is `munmap`.
    static func unmap(_ p: UnsafeRawPointer, length: Int) {
        munmap(UnsafeMutableRawPointer(mutating: p), length)
    }

    /// Lets go of the whole pages in `[p, p + length)`: a file mapping's come back from the
    /// page cache on the next touch.
    ///
    /// The corresponding C function is `madvise` with `MADV_DONTNEED`.
    static func release(_ p: UnsafeMutableRawPointer, length: Int) {
        let page = 4096
        let start = (Int(bitPattern: p) + page - 1) / page * page
        let end = (Int(bitPattern: p) + length) / page * page
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
    }

    private static func preferHugePages(_ p: UnsafeMutableRawPointer, length: Int) {
        if length >= 4 << 20 { _ = madvise(p, length, MADV_HUGEPAGE) }
    }
}
