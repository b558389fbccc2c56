@preconcurrency import CPython
import DiskCache

// The hot methods of python-diskcache's `Cache`, straight from the method table into Swift:
// no Python frame between the caller and the engine.

@inline(__always)
func state(_ slf: PyObj?) throws -> CoreState {
    guard let slf, let p = dcs_get_core(slf) else {
        raise(PyExc_ValueError, "Cache is not initialized")
        throw PythonErrorSet()
    }
    return Unmanaged<CoreState>.fromOpaque(p).takeUnretainedValue()
}

/// Runs a method body, turning thrown errors into Python exceptions.
@inline(__always)
func method(_ slf: PyObj?, _ body: (CoreState) throws -> PyObj?) -> PyObj? {
    do {
        return try body(try state(slf))
    } catch {
        return raiseEngineError(error)
    }
}

/// python-diskcache's `retry`: on Timeout, try again when asked, else raise Timeout.
@inline(__always)
func retrying<R>(_ retry: Bool, _ body: () throws -> R) throws -> R {
    while true {
        do {
            return try body()
        } catch let e as DiskCacheError where e.code == .timeout && retry {
            continue
        }
    }
}

/// The value as given, or a tuple with expire time and/or tag (python-diskcache's shapes).
func wrap(_ value: PyObj, expire: Double?, tag: PyObj?, wantExpire: Bool, wantTag: Bool) -> PyObj? {
    defer { dcs_decref(value) }
    if !wantExpire && !wantTag { return dcs_newref(value) }
    let e = wantExpire ? pyFloat(expire) : nil
    defer { dcs_xdecref(e) }
    let t = wantTag ? (tag.map { dcs_newref($0) } ?? dcs_none()) : nil
    defer { dcs_xdecref(t) }
    if wantExpire && wantTag { return dcs_pack3(value, e, t) }
    return dcs_pack2(value, wantExpire ? e : t)
}

/// Reads a live item: (value, expire, tag) owned, or nil on a miss.
func readItem(_ s: CoreState, _ key: PyObj, read: Bool) throws -> (PyObj, Double?, PyObj?)? {
    var kind = ItemKind.blob
    var materialized = true
    var file: String?
    var expire: Double?
    var tagObj: PyObj?
    var vanished = false
    // Value files are never read by the engine here: their bytes go straight into the
    // Python object (or a handle is opened, or a custom Disk reads them).
    let raw: PyObj?? = try s.withKey(key) { k in
        try s.cache.withItem(k, readFile: { _ in false }) { view -> PyObj? in
            kind = view.kind
            materialized = view.isMaterialized
            file = view.filePath
            expire = view.expireTime
            tagObj = s.decodeTag(view.tagKind, view.tag)
            if !view.isMaterialized && s.customDisk == nil && !(read && view.kind == .blob) {
                materialized = true
                return readValueFile(view, &vanished)
            }
            return s.rawValue(view)
        }
    }
    if vanished {
        // python-diskcache: a value file removed under a reader reads as a miss.
        dcs_xdecref(tagObj)
        return nil
    }
    guard let raw else { return nil }
    guard let raw, let tag = tagObj else {
        dcs_xdecref(raw)
        dcs_xdecref(tagObj)
        throw PythonErrorSet()
    }
    do {
        let value = try s.finishValue(raw, kind: kind, materialized: materialized, file: file, read: read)
        return (value, expire, tag)
    } catch {
        dcs_decref(tag)
        throw error
    }
}

/// A value file's bytes read directly into a new bytes object (decoded for text).
private func readValueFile(_ view: ItemView, _ vanished: inout Bool) -> PyObj? {
    let size = Int(view.fileSize)
    guard let bytes = PyBytes_FromStringAndSize(nil, size) else { return nil }
    let target = UnsafeMutableRawBufferPointer(start: dcs_bytes_data(bytes), count: size)
    guard DiskCache.readValueFile(view, into: target) else {
        dcs_decref(bytes)
        vanished = true
        return dcs_none()
    }
    guard view.kind == .text else { return bytes }
    defer { dcs_decref(bytes) }
    return PyUnicode_DecodeUTF8(dcs_bytes_data(bytes), size, "surrogatepass")
}

let sigGet = Signature("get", ["key", "default", "read", "expire_time", "tag", "retry"], required: 1)
let cacheGet: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigGet.parse(args, nargs, kw)
        let wantExpire = try a.flag(3), wantTag = try a.flag(4)
        let read = try a.flag(2)
        guard let (value, expire, tag) = try retrying(try a.flag(5), { try readItem(s, a[0]!, read: read) }) else {
            let d = a[1] ?? dcs_py_none()!
            if !wantExpire && !wantTag { return dcs_newref(d) }
            return wrap(dcs_newref(d)!, expire: nil, tag: nil, wantExpire: wantExpire, wantTag: wantTag)
        }
        defer { dcs_xdecref(tag) }
        return wrap(value, expire: expire, tag: tag, wantExpire: wantExpire, wantTag: wantTag)
    }
}

let cacheGetItem: @convention(c) (PyObj?, PyObj?) -> PyObj? = { slf, key in
    method(slf) { s in
        guard let (value, _, tag) = try retrying(true, { try readItem(s, key!, read: false) }) else {
            return dcs_key_error(key)
        }
        dcs_xdecref(tag)
        return value
    }
}

let sigRead = Signature("read", ["key", "retry"], required: 1)
let cacheRead: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigRead.parse(args, nargs, kw)
        guard let (value, _, tag) = try retrying(try a.flag(1), { try readItem(s, a[0]!, read: true) }) else {
            return dcs_key_error(a[0])
        }
        dcs_xdecref(tag)
        return value
    }
}

/// How a Python value goes to the engine (python-diskcache's `Disk.store`).
func withValue<R>(_ s: CoreState, _ value: PyObj, read: Bool, key: PyObj?, _ body: (ItemKind, ValueSource) throws -> R) throws -> R {
    if let disk = s.customDisk { return try withCustomValue(s, disk, value, read: read, key: key, body) }
    return try withNativeValue(s, value, read: read, minFileSize: s.minFileSize, body)
}

/// The built-in rules, whatever the Disk.
func withNativeValue<R>(_ s: CoreState, _ value: PyObj, read: Bool, minFileSize: Int, _ body: (ItemKind, ValueSource) throws -> R) throws -> R {
    if dcs_long_exact(value) != 0 {
        var overflow: Int32 = 0
        let v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0 {
            var le = Int64(v).littleEndian
            return try withUnsafeBytes(of: &le) { try body(.int, .bytes($0, .inline)) }
        }
    } else if dcs_float_exact(value) != 0 {
        var le = dcs_float_value(value).bitPattern.littleEndian
        return try withUnsafeBytes(of: &le) { try body(.float, .bytes($0, .inline)) }
    } else if dcs_unicode_exact(value) != 0 {
        var size: Py_ssize_t = 0
        guard let p = PyUnicode_AsUTF8AndSize(value, &size) else { throw PythonErrorSet() }
        let storage: ValueStorage = dcs_unicode_length(value) < minFileSize ? .inline : .file
        return try body(.text, .bytes(UnsafeRawBufferPointer(start: p, count: size), storage))
    } else if dcs_bytes_exact(value) != 0 {
        let n = dcs_bytes_size(value)
        return try body(.blob, .bytes(UnsafeRawBufferPointer(start: dcs_bytes_data(value), count: n), n < minFileSize ? .inline : .file))
    }
    if read {
        // A file-like object: copied in 4 MiB chunks, never whole in memory.
        let readMethod = try check(PyObject_GetAttrString(value, "read"))
        defer { dcs_decref(readMethod) }
        let chunkSize = try check(PyLong_FromLong(1 << 22))
        defer { dcs_decref(chunkSize) }
        var pending: PyObj?
        var offset = 0
        defer { dcs_xdecref(pending) }
        // The engine reports a failed stream as a failed write; the caller gets read()'s own
        // exception instead.
        var readFailed = false
        do {
        return try body(.blob, .stream({ buffer in
            while true {
                if let p = pending {
                    let n = dcs_bytes_size(p)
                    if offset < n {
                        let take = min(buffer.count, n - offset)
                        buffer.baseAddress!.copyMemory(from: UnsafeRawPointer(dcs_bytes_data(p)!) + offset, byteCount: take)
                        offset += take
                        return take
                    }
                    dcs_decref(p)
                    pending = nil
                }
                guard let chunk = dcs_call1(readMethod, chunkSize) else {
                    readFailed = true
                    throw PythonErrorSet()
                }
                guard dcs_bytes_check(chunk) != 0 else {
                    let typeName = String(cString: dcs_type_name(chunk))
                    dcs_decref(chunk)
                    readFailed = true
                    raise(PyExc_TypeError, "a bytes-like object is required, not '\(typeName)' (read() of the value given with read=True must return bytes)")
                    throw PythonErrorSet()
                }
                if dcs_bytes_size(chunk) == 0 { dcs_decref(chunk); return 0 }
                pending = chunk
                offset = 0
            }
        }))
        } catch where readFailed {
            throw PythonErrorSet()
        }
    }
    let pickled = try s.pickle(value)
    defer { dcs_decref(pickled) }
    let n = dcs_bytes_size(pickled)
    return try body(.pickle, .bytes(UnsafeRawBufferPointer(start: dcs_bytes_data(pickled), count: n), n < minFileSize ? .inline : .file))
}

/// A Disk subclass's `store(value, read, key=key)` → `(size, mode, filename, db_value)`.
private func withCustomValue<R>(_ s: CoreState, _ disk: PyObj, _ value: PyObj, read: Bool, key: PyObj?, _ body: (ItemKind, ValueSource) throws -> R) throws -> R {
    let store = try check(PyObject_GetAttrString(disk, "store"))
    defer { dcs_decref(store) }
    let readObj = dcs_bool(read ? 1 : 0)!
    defer { dcs_decref(readObj) }
    let result: PyObj
    if let key {
        let args = try check(dcs_pack2(value, readObj))
        defer { dcs_decref(args) }
        let kwargs = try check(PyDict_New())
        defer { dcs_decref(kwargs) }
        PyDict_SetItemString(kwargs, "key", key)
        result = try check(PyObject_Call(store, args, kwargs))
    } else {
        result = try check(dcs_call2(store, value, readObj))
    }
    defer { dcs_decref(result) }
    guard dcs_tuple_check(result) != 0, dcs_tuple_size(result) == 4 else {
        raise(PyExc_TypeError, "Disk.store must return (size, mode, filename, value), not \(String(cString: dcs_type_name(result)))")
        throw PythonErrorSet()
    }
    let modeObj = dcs_tuple_item(result, 1)!
    let mode = dcs_long_check(modeObj) != 0 ? PyLong_AsLong(modeObj) : -1
    guard (1...4).contains(mode) else {
        PyErr_Clear()
        raise(PyExc_TypeError, "Disk.store returned mode \(reprText(modeObj)); expected MODE_RAW, MODE_BINARY, MODE_TEXT or MODE_PICKLE (1-4)")
        throw PythonErrorSet()
    }
    let filename = dcs_tuple_item(result, 2)!
    let dbValue = dcs_tuple_item(result, 3)!
    if dcs_is_none(filename) == 0 {
        guard dcs_unicode_check(filename) != 0, let p = PyUnicode_AsUTF8(filename) else {
            PyErr_Clear()
            raise(PyExc_TypeError, "Disk.store returned filename \(reprText(filename)); expected str or None")
            throw PythonErrorSet()
        }
        let kind: ItemKind = mode == 3 ? .text : mode == 4 ? .pickle : .blob
        return try body(kind, .existingFile(String(cString: p)))
    }
    if mode == 4 {
        guard dcs_bytes_check(dbValue) != 0 else {
            raise(PyExc_TypeError, "Disk.store returned MODE_PICKLE with value \(reprText(dbValue)); expected bytes")
            throw PythonErrorSet()
        }
        return try body(.pickle, .bytes(UnsafeRawBufferPointer(start: dcs_bytes_data(dbValue), count: dcs_bytes_size(dbValue)), .inline))
    }
    guard mode == 1 else {
        raise(PyExc_TypeError, "Disk.store returned mode \(mode) without a filename")
        throw PythonErrorSet()
    }
    // Raw values go inline: the Disk already decided they are small.
    return try withNativeValue(s, dbValue, read: false, minFileSize: Int.max, body)
}

/// Runs `body` as one transaction, its lock taken as `retry` says: committed if `body`
/// returns, rolled back if it throws. Nothing in `body` waits for the lock, so nothing in it
/// is repeated by a retry.
func transaction<R>(_ s: CoreState, retry: Bool, _ body: () throws -> R) throws -> R {
    try retrying(retry) { try s.cache.beginTransaction() }
    let r: R
    do {
        r = try body()
    } catch {
        try? s.cache.endTransaction(commit: false)
        throw error
    }
    try s.cache.endTransaction(commit: true)
    return r
}

/// Stores from `source` with python-diskcache's `retry`, which retries only taking the lock:
/// a value that cannot be produced twice (a stream, a file a custom Disk wrote, which the
/// engine removes when a store fails) is stored with the lock already held.
func storing<R>(_ s: CoreState, _ source: ValueSource, retry: Bool, _ body: () throws -> R) throws -> R {
    if case .bytes = source { return try retrying(retry, body) }
    guard retry else { return try body() }
    return try transaction(s, retry: true, body)
}

func storeItem(_ s: CoreState, _ a: Arguments, onlyIfAbsent: Bool, retry: Bool) throws -> Bool {
    let expire = try expireTime(a[2])
    let read = try a.flag(3)
    return try s.withKey(a[0]!, forWriting: true) { k in
        try s.withTag(a[4]) { tag in
            try withValue(s, a[1]!, read: read, key: a[0]) { kind, source in
                try storing(s, source, retry: retry) {
                    try s.cache.store(k, kind: kind, source, expireTime: expire, tag: tag, onlyIfAbsent: onlyIfAbsent)
                }
            }
        }
    }
}

let sigSet = Signature("set", ["key", "value", "expire", "read", "tag", "retry"], required: 2)
let cacheSet: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigSet.parse(args, nargs, kw)
        _ = try storeItem(s, a, onlyIfAbsent: false, retry: try a.flag(5))
        return dcs_true()
    }
}

let cacheSetItem: @convention(c) (PyObj?, PyObj?, PyObj?) -> Int32 = { slf, key, value in
    let r = method(slf) { s in
        if let value {
            var a = Arguments()
            a[0] = key
            a[1] = value
            _ = try storeItem(s, a, onlyIfAbsent: false, retry: true)
            return dcs_none()
        }
        let deleted = try s.withKey(key!) { k in try retrying(true) { try s.cache.delete(k) } }
        return deleted ? dcs_none() : dcs_key_error(key)
    }
    guard let r else { return -1 }
    dcs_decref(r)
    return 0
}

let sigAdd = Signature("add", ["key", "value", "expire", "read", "tag", "retry"], required: 2)
let cacheAdd: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigAdd.parse(args, nargs, kw)
        return dcs_bool(try storeItem(s, a, onlyIfAbsent: true, retry: try a.flag(5)) ? 1 : 0)
    }
}

let sigDelete = Signature("delete", ["key", "retry"], required: 1)
let cacheDelete: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigDelete.parse(args, nargs, kw)
        let retry = try a.flag(1)
        return dcs_bool(try s.withKey(a[0]!) { k in try retrying(retry) { try s.cache.delete(k) } } ? 1 : 0)
    }
}

let sigDelItem = Signature("__delitem__", ["key", "retry"], required: 1)
let cacheDelItemMethod: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigDelItem.parse(args, nargs, kw)
        let retry = a[1] == nil ? true : try a.flag(1)
        let deleted = try s.withKey(a[0]!) { k in try retrying(retry) { try s.cache.delete(k) } }
        return deleted ? dcs_true() : dcs_key_error(a[0])
    }
}

let cacheContains: @convention(c) (PyObj?, PyObj?) -> Int32 = { slf, key in
    let r = method(slf) { s in
        dcs_bool(try s.withKey(key!) { try s.cache.contains($0) } ? 1 : 0)
    }
    guard let r else { return -1 }
    defer { dcs_decref(r) }
    return dcs_is_true(r)
}

let cacheLength: @convention(c) (PyObj?) -> Py_ssize_t = { slf in
    let r = method(slf) { s in PyLong_FromLong(try s.cache.count()) }
    guard let r else { return -1 }
    defer { dcs_decref(r) }
    return PyLong_AsSsize_t(r)
}

let sigPop = Signature("pop", ["key", "default", "expire_time", "tag", "retry"], required: 1)
let cachePop: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigPop.parse(args, nargs, kw)
        let wantExpire = try a.flag(2), wantTag = try a.flag(3), retry = try a.flag(4)
        // One transaction: if the value cannot be made (unpickling, a custom Disk's fetch),
        // the item is not removed.
        let item: (PyObj, Double?, PyObj)? = try s.withKey(a[0]!) { k in
            try transaction(s, retry: retry) {
                var meta: (ItemKind, Bool, String?, Double?, PyObj?) = (.blob, true, nil, nil, nil)
                let raw: PyObj?? = try s.cache.pop(k) { view -> PyObj? in
                    meta = (view.kind, view.isMaterialized, view.filePath, view.expireTime, s.decodeTag(view.tagKind, view.tag))
                    return s.rawValue(view)
                }
                guard let raw else { return nil }
                guard let raw, let tag = meta.4 else { dcs_xdecref(raw); dcs_xdecref(meta.4); throw PythonErrorSet() }
                do {
                    // The value file is gone with the item: a custom Disk gets the bytes read before.
                    let value = try s.finishValue(raw, kind: meta.0, materialized: meta.1, file: s.customDisk == nil ? meta.2 : nil, read: false)
                    return (value, meta.3, tag)
                } catch {
                    dcs_decref(tag)
                    throw error
                }
            }
        }
        guard let (value, expire, tag) = item else {
            let d = a[1] ?? dcs_py_none()!
            if !wantExpire && !wantTag { return dcs_newref(d) }
            return wrap(dcs_newref(d)!, expire: nil, tag: nil, wantExpire: wantExpire, wantTag: wantTag)
        }
        defer { dcs_decref(tag) }
        return wrap(value, expire: expire, tag: tag, wantExpire: wantExpire, wantTag: wantTag)
    }
}

let sigIncr = Signature("incr", ["key", "delta", "default", "retry"], required: 1)
let sigDecr = Signature("decr", ["key", "delta", "default", "retry"], required: 1)

/// `incr`/`decr`. python-diskcache's ints are unbounded; the engine's are 64-bit: every result
/// that fits is exact (a delta that does not fit, like `decr(k, -2**63)`, is applied in two
/// halves in one transaction), one that does not is an OverflowError and stores nothing.
func incr(_ s: CoreState, _ a: Arguments, sign: Int64, name: String) throws -> PyObj? {
    func overflow(_ what: String) -> PythonErrorSet {
        raise(PyExc_OverflowError, "\(name)() \(what) does not fit in a 64-bit integer (the cache stores integers in 64 bits)")
        return PythonErrorSet()
    }
    func integer(_ o: PyObj) throws -> PyObj {
        guard dcs_long_check(o) != 0 else {
            raise(PyExc_TypeError, "\(name)() delta and default must be integers, not \(String(cString: dcs_type_name(o)))")
            throw PythonErrorSet()
        }
        return o
    }
    func int64(_ o: PyObj, _ what: String) throws -> Int64 {
        var over: Int32 = 0
        let v = PyLong_AsLongLongAndOverflow(o, &over)
        if v == -1 && PyErr_Occurred() != nil { throw PythonErrorSet() }
        if over != 0 { throw overflow(what) }
        return Int64(v)
    }
    let retry = try a.flag(3)
    let initial: Int64? = (a[2].map { dcs_is_none($0) != 0 } ?? false) ? nil : try a[2].map { try int64(try integer($0), "default") } ?? 0
    // Usually one step; a delta beyond 64 bits (|delta| < 2**64 can still give a result that
    // fits) is applied in up to three steps of one sign, so the running value stays between
    // the old and the new.
    var steps: [Int64] = []
    var delta = sign
    if let d = a[1] {
        var over: Int32 = 0
        let v = PyLong_AsLongLongAndOverflow(try integer(d), &over)
        if v == -1 && PyErr_Occurred() != nil { throw PythonErrorSet() }
        if over == 0 && !(sign == -1 && v == Int64.min) {
            delta = sign == 1 ? Int64(v) : -Int64(v)
        } else {
            let negative = (over != 0 ? over < 0 : v < 0) == (sign == 1)
            let magnitude = try check(PyNumber_Absolute(d))
            defer { dcs_decref(magnitude) }
            var m = PyLong_AsUnsignedLongLong(magnitude)
            if m == UInt64.max && PyErr_Occurred() != nil {
                PyErr_Clear()
                throw overflow("result")
            }
            while m > 0 {
                let step = Swift.min(m, UInt64(Int64.max))
                steps.append(negative ? -Int64(step) : Int64(step))
                m -= step
            }
            delta = steps.removeFirst()
        }
    }
    let result: DiskCache.Number? = try s.withKey(a[0]!, forWriting: true) { k in
        do {
            if steps.isEmpty {
                return try retrying(retry) { try s.cache.incr(k, by: delta, initial: initial) }
            }
            return try transaction(s, retry: retry) {
                var r = try s.cache.incr(k, by: delta, initial: initial)
                for step in steps where r != nil { r = try s.cache.incr(k, by: step, initial: initial) }
                return r
            }
        } catch let e as DiskCacheError where e.code == .invalidArgument {
            // The engine's incr fails with invalidArgument only on 64-bit overflow.
            throw overflow("result")
        }
    }
    guard let result else { return dcs_key_error(a[0]) }
    switch result {
    case .int(let v): return PyLong_FromLongLong(v)
    case .float(let d): return PyFloat_FromDouble(d)
    }
}

let cacheIncr: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in try incr(s, try sigIncr.parse(args, nargs, kw), sign: 1, name: "incr") }
}

let cacheDecr: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in try incr(s, try sigDecr.parse(args, nargs, kw), sign: -1, name: "decr") }
}

let sigTouch = Signature("touch", ["key", "expire", "retry"], required: 1)
let cacheTouch: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigTouch.parse(args, nargs, kw)
        let expire = try expireTime(a[1])
        return dcs_bool(try s.withKey(a[0]!) { k in try retrying(try a.flag(2)) { try s.cache.touch(k, expireTime: expire) } } ? 1 : 0)
    }
}
