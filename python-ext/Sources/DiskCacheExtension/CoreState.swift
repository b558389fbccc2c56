@preconcurrency import CPython
import DiskCache
#if canImport(Glibc)
import Glibc
#endif

/// The Swift side of one `CacheCore` instance.
final class CoreState {
    let cache: DiskCache
    let directory: String
    /// python-diskcache's `Disk.min_file_size`: str values are measured in characters.
    var minFileSize = 1 << 15
    /// The pickle protocol (a Python int).
    var pickleProtocolObject: PyRef
    /// A Disk subclass instance whose put/get/store/fetch decide, or nil for the built-in
    /// rules.
    var customDiskObject: PyRef?
    /// The Disk's `remove` when its class overrides python-diskcache's: the engine then lists
    /// the value files it lets go of (`reportsRemovedValueFiles`) and each call ends by
    /// handing them to it (`handingOverRemovedFiles`).
    var diskRemoveObject: PyRef?

    init(cache: DiskCache, directory: String) {
        self.cache = cache
        self.directory = directory
        pickleProtocolObject = PyRef(owned: PyLong_FromLong(5))
    }

    /// Reused for copying values out of the engine (see `Copied`): taken for the call, so
    /// that a call on another thread meanwhile gets a fresh one.
    private var scratch: [UInt8] = []

    func takeScratch() -> [UInt8] {
        var b: [UInt8] = []
        swap(&b, &scratch)
        return b
    }

    func returnScratch(_ b: [UInt8]) {
        if b.capacity <= 1 << 20 { scratch = b }
    }

    /// Reused by `set_many` as `scratch` is (taken for the call).
    private var batchScratch = WriteBatch()

    func takeBatch() -> WriteBatch {
        var b = WriteBatch()
        swap(&b, &batchScratch)
        return b
    }

    /// Takes back an emptied batch (emptied by its user, whose copy is then the buffers'
    /// only owner: emptying a shared copy would allocate new ones).
    func returnBatch(_ b: WriteBatch) {
        if b.capacity <= 16 << 20 { batchScratch = b }
    }

    /// Borrowed: valid until `_configure` replaces it (callers that run Python code
    /// meanwhile hold a reference of their own).
    var pickleProtocol: PyObj { pickleProtocolObject.borrowed }
    var customDisk: PyObj? { customDiskObject?.borrowed }

    /// Runs a call's `body`, then passes the value files the engine let go of meanwhile to the
    /// Disk's `remove`, one by one, as python-diskcache does once a write's transaction has
    /// ended (in a transaction, that is the end of `transact()`). The call has had its effect
    /// by then: every file is passed on even if a `remove` raises, and the first such error
    /// is the call's, unless `body` failed, whose error comes first (the others are reported
    /// as unraisable).
    func handingOverRemovedFiles<R: ~Copyable>(_ body: () throws -> R) throws -> R {
        let result: R
        do {
            result = try body()
        } catch {
            raiseEngineError(error)
            let raised = dcs_error_take()
            handOverRemovedFiles(failed: true)
            dcs_error_restore(raised)
            throw PythonErrorSet()
        }
        if handOverRemovedFiles(failed: false) { throw PythonErrorSet() }
        return result
    }

    /// Whether a `remove` raised (its exception is then set).
    @discardableResult
    private func handOverRemovedFiles(failed: Bool) -> Bool {
        guard let removeObject = diskRemoveObject?.borrowed else { return false }
        // Held: a remove may reconfigure the cache.
        let remove = PyRef(borrowing: removeObject)
        var raised: PyObj? = nil
        for name in cache.takeRemovedValueFiles() {
            do {
                let path = try PyRef.string(name)
                _ = try PyRef.call(remove.borrowed, path.borrowed)
            } catch {
                if failed || raised != nil {
                    PyErr_WriteUnraisable(remove.borrowed)
                } else {
                    raised = dcs_error_take()
                }
            }
        }
        guard let raised else { return false }
        dcs_error_restore(raised)
        return true
    }
}

/// Seconds since the epoch, as `time.time()`.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// `expire` seconds from now as an absolute time; nil for None. Numbers only, like
/// python-diskcache's `now + expire`.
func expireTime(_ expire: PyObj?) throws -> Double? {
    guard let expire, dcs_is_none(expire) == 0 else { return nil }
    let d = PyFloat_AsDouble(expire)
    if d == -1 && PyErr_Occurred() != nil {
        // An int too large for a float keeps its OverflowError, as in python-diskcache.
        guard PyErr_ExceptionMatches(PyExc_TypeError) != 0 else { throw PythonErrorSet() }
        PyErr_Clear()
        throw pythonError(PyExc_TypeError, "unsupported operand type(s) for +: 'float' and '\(typeName(expire))' (expire must be a number of seconds or None)")
    }
    return now() + d
}

/// Sets the Python exception for an error thrown out of a method: a Python exception that is
/// already set stays; an engine error maps to a Python exception class by its code.
func raiseEngineError(_ error: Error) {
    if error is PythonErrorSet { return }
    guard let e = error as? DiskCacheError else {
        pythonError(PyExc_RuntimeError, "\(error)")
        return
    }
    switch e.code {
    case .timeout:
        pythonError(imports.timeout ?? PyExc_TimeoutError, e.message)
    case .notNumeric:
        pythonError(PyExc_TypeError, e.message)
    case .invalidArgument, .keyTooLarge:
        pythonError(PyExc_ValueError, e.message)
    case .keyExists:
        // python-diskcache's INSERT fails the same way (sqlite3 is imported only for this).
        guard let cls = try? PyRef.attribute("sqlite3", "IntegrityError") else { return }
        pythonError(cls.borrowed, "UNIQUE constraint failed: Cache.key, Cache.raw")
    case .inTransaction:
        // python-diskcache's closed connection fails the same way (at the commit).
        guard let cls = try? PyRef.attribute("sqlite3", "ProgrammingError") else { return }
        pythonError(cls.borrowed, e.message)
    case .notADirectory:
        _ = e.message.withCString { dcs_os_error(ENOTDIR, $0) }
    case .wouldBlock:
        pythonError(imports.wouldBlock ?? PyExc_RuntimeError, e.message)
    case .readOnly:
        _ = e.message.withCString { dcs_os_error_of(imports.readOnly ?? PyExc_OSError, EROFS, $0) }
    default:
        _ = e.message.withCString { dcs_os_error(e.errno?.rawValue ?? EIO, $0) }
    }
}
