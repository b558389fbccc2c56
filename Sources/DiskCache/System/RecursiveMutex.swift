#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import Synchronization

/// The lock over a cache's in-memory state: exclusive and recursive for whatever changes it
/// (writes, catching up, opening, closing), shared for reads that find the state current, so
/// that gets from many threads run at once instead of one after another.
///
/// Exclusive holds take a recursive pthread mutex (a transaction's operations take it again on
/// the same thread; ~20 ns uncontended) and then, on the outermost hold, the write side of a
/// writer-preferring rwlock: readers drain, and new ones wait while a writer waits (so a steady
/// stream of readers cannot starve writes). Shared holds take the read side only. A thread's
/// shared holds are noted in a C thread-local (`dcs_read_push`): a nested read of the same
/// cache does not lock again (with a writer waiting, that would deadlock) and a write from
/// inside a read is refused rather than deadlocking. Every wait happens inside
/// `Blocking.wait`. No Dispatch (fork safety).
final class StateLock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    private let rw: UnsafeMutablePointer<pthread_rwlock_t>
    /// Exclusive nesting depth; guarded by `m`.
    private var depth = 0
    /// The thread holding the lock exclusively (0: none), readable without `m`: a thread
    /// compares it with itself, and only it stores its own identity.
    private let owner = Atomic<UInt>(0)

    init() {
        m = .allocate(capacity: 1)
        var attr = pthread_mutexattr_t()
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_settype(&attr, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(m, &attr)
        pthread_mutexattr_destroy(&attr)
        rw = .allocate(capacity: 1)
        var rwAttr = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&rwAttr)
        pthread_rwlockattr_setkind_np(&rwAttr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(rw, &rwAttr)
        pthread_rwlockattr_destroy(&rwAttr)
    }

    deinit {
        pthread_rwlock_destroy(rw)
        rw.deallocate()
        pthread_mutex_destroy(m)
        m.deallocate()
    }

    private var identity: UnsafeRawPointer { UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()) }

    /// Locks exclusively; waits inside `Blocking.wait` for other threads.
    @inline(__always) func lock() {
        precondition(dcs_read_held(identity) == 0, "A cache was written to from inside one of its own reads (a withItem closure): that would deadlock")
        if pthread_mutex_trylock(m) != 0 { _ = Blocking.wait { pthread_mutex_lock(m) } }
        _ = enterExclusive(refusable: false)
    }

    /// Locks exclusively; in "attempt without waiting" mode throws `.wouldBlock` if another
    /// thread holds the lock. Throws instead of deadlocking when called from inside a read.
    @inline(__always) func lockUnlessRefused() throws {
        if dcs_read_held(identity) != 0 {
            throw DiskCacheError(.invalidArgument, "Cannot write to the cache, or read it in a way that changes its state, from inside one of its reads (the closure of withItem): finish the read first")
        }
        if pthread_mutex_trylock(m) != 0 {
            try NoWait.refuse("the cache is in use by another thread")
            _ = Blocking.wait { pthread_mutex_lock(m) }
        }
        if !enterExclusive(refusable: NoWait.isActive) {
            pthread_mutex_unlock(m)
            throw NoWait.error("other threads are reading")
        }
    }

    /// Locks exclusively if no other thread holds the lock in any way.
    @inline(__always) func tryLock() -> Bool {
        guard pthread_mutex_trylock(m) == 0 else { return false }
        if !enterExclusive(refusable: true) {
            pthread_mutex_unlock(m)
            return false
        }
        return true
    }

    /// With `m` held: the outermost hold takes the write side. False (refused, `m` still held)
    /// if readers hold it and `refusable`.
    @inline(__always) private func enterExclusive(refusable: Bool) -> Bool {
        if depth == 0 {
            if pthread_rwlock_trywrlock(rw) != 0 {
                if refusable { return false }
                _ = Blocking.wait { pthread_rwlock_wrlock(rw) }
            }
            owner.store(UInt(pthread_self()), ordering: .relaxed)
        }
        depth += 1
        return true
    }

    @inline(__always) func unlock() {
        depth -= 1
        if depth == 0 {
            owner.store(0, ordering: .relaxed)
            pthread_rwlock_unlock(rw)
        }
        pthread_mutex_unlock(m)
    }

    /// Whether the calling thread holds the lock exclusively.
    @inline(__always) var isHeldByCurrentThread: Bool {
        owner.load(ordering: .relaxed) == UInt(pthread_self())
    }

    /// How `lockShared` found the calling thread.
    enum SharedHold {
        /// It took the lock shared: `unlockShared` must follow.
        case took
        /// The thread holds it shared already (a nested read): nothing to undo.
        case alreadyShared
        /// The thread holds it exclusively: nothing taken.
        case exclusive
    }

    /// Takes the lock shared unless the calling thread holds it already. In "attempt without
    /// waiting" mode throws `.wouldBlock` if a writer holds it or waits for it.
    @inline(__always) func lockShared() throws -> SharedHold {
        if isHeldByCurrentThread { return .exclusive }
        if dcs_read_held(identity) != 0 { return .alreadyShared }
        if pthread_rwlock_tryrdlock(rw) != 0 {
            try NoWait.refuse("another thread is writing")
            _ = Blocking.wait { pthread_rwlock_rdlock(rw) }
        }
        if dcs_read_push(identity) != 0 {
            pthread_rwlock_unlock(rw)
            throw DiskCacheError(.invalidArgument, "Reads nested more than 16 deep across caches")
        }
        return .took
    }

    @inline(__always) func unlockShared() {
        dcs_read_pop(identity)
        pthread_rwlock_unlock(rw)
    }
}

/// Hooks a host runtime sets so that a call that blocks does not stall its other threads: the
/// Python binding releases the GIL in `willWait` and takes it back in `didWait`. Set once,
/// before any cache is used.
///
/// The rule, kept here and nowhere else: everything that waits runs inside `wait` — for a
/// lock (the writer slot, the state mutex, `flock`, a network claim and its retry sleeps),
/// for the disk (fsync, value files, compaction, snapshot writes and reads, replaying a log),
/// or for the network (every network-mode open, read, mkdir, stat and rename). The engine
/// never calls back into its host inside `wait`. Nested waits are free: `willWait` returns nil
/// when the calling thread does not hold the GIL.
public enum Blocking {
    nonisolated(unsafe) public static var willWait: (@convention(c) () -> UnsafeMutableRawPointer?)? = nil
    nonisolated(unsafe) public static var didWait: (@convention(c) (UnsafeMutableRawPointer?) -> Void)? = nil

    @inline(__always)
    static func wait<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        if dcs_no_wait() != 0 { dcs_note_unrefused_wait() }
        guard let willWait, let didWait else { return try body() }
        let token = willWait()
        defer { didWait(token) }
        return try body()
    }
}
