#if canImport(Glibc)
import Glibc
#endif

/// The in-process half of writer exclusion: one thread at a time holds a cache for writing,
/// recursively (a transaction and the writes inside it), and a thread waiting for it gives up
/// at its deadline. It is separate from the mutex that guards the cache's state, which is
/// only ever held for the span of one operation: waiting for the writer (another thread's
/// transaction, or another process's lock that the holder waits for) is then bounded by the
/// caller's timeout instead of queueing without limit behind the mutex.
final class WriterSlot: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    private let freed: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `m`, which is held only for these few instructions (never while waiting for
    // anything else, so a host lock such as Python's GIL is never taken while holding it).
    private var owner: pthread_t?
    private var depth = 0
    private var _timeout: Double?

    init(timeout: Double?) {
        _timeout = timeout
        m = .allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        freed = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(freed, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(freed)
        freed.deallocate()
        pthread_mutex_destroy(m)
        m.deallocate()
    }

    /// How long a write waits for the cache (nil: no limit).
    var timeout: Double? {
        get { pthread_mutex_lock(m); defer { pthread_mutex_unlock(m) }; return _timeout }
        set { pthread_mutex_lock(m); _timeout = newValue; pthread_mutex_unlock(m) }
    }

    /// The timeout read without the lock, in a forked child (whose copy of the lock may have
    /// been held by a thread that does not exist there).
    var timeoutAtFork: Double? { _timeout }

    /// The deadline (monotonic seconds) of a write that starts now; nil: none.
    func deadline() -> Double? {
        timeout.map { monotonicClock() + $0 }
    }

    /// Takes the slot (again, if this thread holds it); false if another thread still held it
    /// at `deadline`. Waits inside `Blocking.wait`.
    func acquire(deadline: Double?) -> Bool {
        let me = pthread_self()
        pthread_mutex_lock(m)
        if owner == nil || pthread_equal(owner!, me) != 0 {
            owner = me
            depth += 1
            pthread_mutex_unlock(m)
            return true
        }
        pthread_mutex_unlock(m)
        return Blocking.wait {
            pthread_mutex_lock(m)
            defer { pthread_mutex_unlock(m) }
            while owner != nil {
                if let deadline {
                    let remaining = deadline - monotonicClock()
                    if remaining <= 0 { return false }
                    var ts = timespec()
                    clock_gettime(CLOCK_MONOTONIC, &ts)
                    let whole = remaining.rounded(.down)
                    ts.tv_sec += Int(whole)
                    ts.tv_nsec += Int((remaining - whole) * 1e9)
                    if ts.tv_nsec >= 1_000_000_000 {
                        ts.tv_sec += 1
                        ts.tv_nsec -= 1_000_000_000
                    }
                    _ = pthread_cond_timedwait(freed, m, &ts)
                } else {
                    pthread_cond_wait(freed, m)
                }
            }
            owner = me
            depth = 1
            return true
        }
    }

    /// Takes the slot (again, if this thread holds it) if no other thread holds it.
    func tryAcquire() -> Bool {
        let me = pthread_self()
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        guard owner == nil || pthread_equal(owner!, me) != 0 else { return false }
        owner = me
        depth += 1
        return true
    }

    /// Undoes one `acquire` of this thread.
    func release() {
        pthread_mutex_lock(m)
        depth -= 1
        if depth == 0 {
            owner = nil
            pthread_cond_broadcast(freed)
        }
        pthread_mutex_unlock(m)
    }

    /// Whether the calling thread holds the slot.
    var isHeldByCurrentThread: Bool {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        guard let owner else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }
}
