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
    /// Owned Python int: the pickle protocol.
    var pickleProtocol: PyObj
    /// Owned: a Disk subclass instance whose put/get/store/fetch decide, or nil for the
    /// built-in rules.
    var customDisk: PyObj?

    init(cache: DiskCache, directory: String) {
        self.cache = cache
        self.directory = directory
        pickleProtocol = PyLong_FromLong(5)
    }

    deinit {
        dcs_decref(pickleProtocol)
        if let customDisk { dcs_decref(customDisk) }
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
        let typeName = String(cString: dcs_type_name(expire))
        raise(PyExc_TypeError, "unsupported operand type(s) for +: 'float' and '\(typeName)' (expire must be a number of seconds or None)")
        throw PythonErrorSet()
    }
    return now() + d
}

/// Sets the Python exception for an engine error and returns nil.
func raiseEngineError(_ error: Error) -> PyObj? {
    if error is PythonErrorSet { return nil }
    guard let e = error as? DiskCacheError else {
        return raise(PyExc_RuntimeError, "\(error)")
    }
    switch e.code {
    case .timeout:
        return raise(imports.timeout ?? PyExc_TimeoutError, e.message)
    case .notNumeric:
        return raise(PyExc_TypeError, e.message)
    case .invalidArgument:
        return raise(PyExc_ValueError, e.message)
    case .keyExists:
        // python-diskcache's INSERT fails the same way.
        guard let cls = try? importAttribute("sqlite3", "IntegrityError") else { return nil }
        defer { dcs_decref(cls) }
        return raise(cls, "UNIQUE constraint failed: Cache.key, Cache.raw")
    case .keyTooLarge:
        return raise(PyExc_ValueError, e.message)
    case .notADirectory:
        _ = e.message.withCString { dcs_os_error(ENOTDIR, $0) }
        return nil
    default:
        _ = e.message.withCString { dcs_os_error(e.errno?.rawValue ?? EIO, $0) }
        return nil
    }
}
