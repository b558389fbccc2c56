#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport

/// A recursive pthread mutex: a transaction holds it while the operations inside it take it
/// again on the same thread. Futex-based, ~20 ns uncontended; no Dispatch (fork safety).
final class RecursiveMutex: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        m = .allocate(capacity: 1)
        var attr = pthread_mutexattr_t()
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_settype(&attr, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(m, &attr)
        pthread_mutexattr_destroy(&attr)
    }

    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }

    /// Locks; if another thread holds the mutex, waits inside `Blocking.wait` (so a Python
    /// binding can let other threads run meanwhile).
    @inline(__always) func lock() {
        if pthread_mutex_trylock(m) == 0 { return }
        _ = Blocking.wait { pthread_mutex_lock(m) }
    }
    /// Locks; in "attempt without waiting" mode throws `.wouldBlock` if another thread holds
    /// the mutex.
    @inline(__always) func lockUnlessRefused() throws {
        if pthread_mutex_trylock(m) == 0 { return }
        try NoWait.refuse("the cache is in use by another thread")
        _ = Blocking.wait { pthread_mutex_lock(m) }
    }
    /// Locks if no other thread holds the mutex.
    @inline(__always) func tryLock() -> Bool { pthread_mutex_trylock(m) == 0 }
    @inline(__always) func unlock() { pthread_mutex_unlock(m) }
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
