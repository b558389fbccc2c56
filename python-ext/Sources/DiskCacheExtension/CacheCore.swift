@preconcurrency import CPython
import DiskCache

// The hot methods of python-diskcache's `Cache`, straight from the method table into Swift:
// no Python frame between the caller and the engine.
//
// Ownership: every reference the extension makes is a `PyRef` and releases itself; the
// engine's closures copy out Swift values (`CopiedItem`) and Python objects are made after
// the engine has returned, so an error thrown at any point leaves nothing behind.

@inline(__always)
func state(_ slf: PyObj?) throws -> CoreState {
    guard let slf, let p = dcs_get_core(slf) else {
        throw pythonError(PyExc_ValueError, "Cache is not initialized")
    }
    return Unmanaged<CoreState>.fromOpaque(p).takeUnretainedValue()
}

/// Runs a method body with the instance's state; its result goes to Python, a thrown error
/// becomes the Python exception.
@inline(__always)
func method(_ slf: PyObj?, _ body: (CoreState) throws -> PyRef) -> PyObj? {
    returning {
        let s = try state(slf)
        if s.diskRemoveObject == nil { return try body(s) }
        return try s.handingOverRemovedFiles { try body(s) }
    }
}

/// A slot returning a C int: 0, or -1 with the exception set.
@inline(__always)
func slot(_ slf: PyObj?, _ body: (CoreState) throws -> Void) -> Int32 {
    do {
        let s = try state(slf)
        if s.diskRemoveObject == nil {
            try body(s)
        } else {
            try s.handingOverRemovedFiles { try body(s) }
        }
        return 0
    } catch {
        raiseEngineError(error)
        return -1
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

/// The value as given, or a tuple with expire time and/or tag (python-diskcache's shapes).
func wrap(_ value: consuming PyRef, expire: Double?, tag: consuming PyRef, wantExpire: Bool, wantTag: Bool) throws -> PyRef {
    switch (wantExpire, wantTag) {
    case (false, false): return value
    case (true, false): return try .tuple(value, try .float(expire))
    case (false, true): return try .tuple(value, tag)
    case (true, true): return try .tuple(value, try .float(expire), tag)
    }
}

/// The default of a miss, in the shape asked for.
func missing(_ d: PyObj?, wantExpire: Bool, wantTag: Bool) throws -> PyRef {
    try wrap(PyRef(borrowing: d ?? dcs_py_none()), expire: nil, tag: .none, wantExpire: wantExpire, wantTag: wantTag)
}

/// In "attempt without waiting" mode (`_engine.attempt`), a value in a file of its own is not
/// read here (the extension reads it, which waits for the disk): the call is refused before
/// the engine counts the hit or records the access.
@inline(__always)
func refuseFileWithoutWaiting(_ view: ItemView) throws {
    if view.filePath != nil && DiskCache.isWithoutWaiting {
        throw DiskCacheError(.wouldBlock, "Would wait (reading a value file); nothing was done")
    }
}

/// Reads a live item, copied out of the engine into `item`; false on a miss.
func readItem(_ s: CoreState, _ key: PyObj, into item: inout CopiedItem, tag: Bool, retry: Bool) throws -> Bool {
    // Value files are never read by the engine here: their bytes go straight into the
    // Python object (or a handle is opened, or a custom Disk reads them).
    var buffer = s.takeScratch()
    defer { s.returnScratch(buffer) }
    return try s.withKey(key) { k in
        try retrying(retry) {
            try s.cache.withItem(k, readFile: { _ in false }) { view -> Bool in
                try refuseFileWithoutWaiting(view)
                item.fill(view, tag: tag, buffer: &buffer)
                return true
            }
        }
    } ?? false
}

enum GetParam: Int, Parameters { case key, `default`, read, expireTime, tag, retry }
let sigGet = Signature<GetParam>("get", required: 1)
let cacheGet: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigGet.parse(args, nargs, kw)
        let wantExpire = try a.flag(.expireTime), wantTag = try a.flag(.tag)
        let read = try a.flag(.read), retry = try a.flag(.retry)
        var item = CopiedItem()
        guard try readItem(s, a[.key]!, into: &item, tag: wantTag, retry: retry), let value = try s.value(of: item, read: read) else {
            return try missing(a[.default], wantExpire: wantExpire, wantTag: wantTag)
        }
        if !wantExpire && !wantTag { return value }
        return try wrap(value, expire: item.expire, tag: wantTag ? try item.tagObject() : .none, wantExpire: wantExpire, wantTag: wantTag)
    }
}

let cacheGetItem: @convention(c) (PyObj?, PyObj?) -> PyObj? = { slf, key in
    method(slf) { s in
        var item = CopiedItem()
        guard try readItem(s, key!, into: &item, tag: false, retry: true), let value = try s.value(of: item, read: false) else {
            throw keyError(key!)
        }
        return value
    }
}

enum ReadParam: Int, Parameters { case key, retry }
let sigRead = Signature<ReadParam>("read", required: 1)
let cacheRead: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigRead.parse(args, nargs, kw)
        var item = CopiedItem()
        guard try readItem(s, a[.key]!, into: &item, tag: false, retry: try a.flag(.retry)), let value = try s.value(of: item, read: true) else {
            throw keyError(a[.key]!)
        }
        return value
    }
}

/// Sets KeyError(key) and returns the error to throw.
func keyError(_ key: PyObj) -> PythonErrorSet {
    dcs_key_error(key)
    return PythonErrorSet()
}

/// How a Python value goes to the engine (python-diskcache's `Disk.store`).
func withValue<R>(_ s: CoreState, _ value: PyObj, read: Bool, key: PyObj?, _ body: (ItemKind, ValueSource) throws -> R) throws -> R {
    if let customDisk = s.customDisk {
        // A custom Disk writes its value files itself, before the engine is asked to store.
        try s.cache.checkWritable()
        // Held: the Disk's Python code may reconfigure the cache meanwhile.
        let disk = PyRef(borrowing: customDisk)
        return try withCustomValue(s, disk.borrowed, value, read: read, key: key, body)
    }
    return try withNativeValue(s, value, read: read, minFileSize: s.minFileSize, body)
}

/// A file-like object's `read`, in 4 MiB chunks, for the engine's stream source: never the
/// whole value in memory.
final class StreamReader {
    let read: PyRef
    let chunkSize: PyRef
    var pending: PyRef?
    var offset = 0
    /// Set when `read()` raised or returned something else than bytes: that exception, not
    /// the engine's failed write, is the caller's.
    var failed = false

    init(_ file: PyObj) throws {
        read = try PyRef(new: PyObject_GetAttrString(file, "read"))
        chunkSize = try .int(1 << 22)
    }

    func next(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if let p = pending?.borrowed {
                let n = dcs_bytes_size(p)
                if offset < n {
                    let count = min(buffer.count, n - offset)
                    buffer.baseAddress!.copyMemory(from: UnsafeRawPointer(dcs_bytes_data(p)!) + offset, byteCount: count)
                    offset += count
                    return count
                }
                pending = nil
            }
            let chunk: PyRef
            do { chunk = try .call(read.borrowed, chunkSize.borrowed) } catch {
                failed = true
                throw error
            }
            guard dcs_bytes_check(chunk.borrowed) != 0 else {
                failed = true
                throw pythonError(PyExc_TypeError, "a bytes-like object is required, not '\(typeName(chunk.borrowed))' (read() of the value given with read=True must return bytes)")
            }
            if dcs_bytes_size(chunk.borrowed) == 0 { return 0 }
            pending = consume chunk
            offset = 0
        }
    }
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
        let reader = try StreamReader(value)
        do {
            return try body(.blob, .stream(reader.next))
        } catch where reader.failed {
            throw PythonErrorSet()
        }
    }
    let pickled = try s.pickle(value)
    let n = dcs_bytes_size(pickled.borrowed)
    return try body(.pickle, .bytes(UnsafeRawBufferPointer(start: dcs_bytes_data(pickled.borrowed), count: n), n < minFileSize ? .inline : .file))
}

/// A Disk subclass's `store(value, read, key=key)` → `(size, mode, filename, db_value)`.
private func withCustomValue<R>(_ s: CoreState, _ disk: PyObj, _ value: PyObj, read: Bool, key: PyObj?, _ body: (ItemKind, ValueSource) throws -> R) throws -> R {
    let store = try PyRef(new: PyObject_GetAttrString(disk, "store"))
    let readObj = PyRef.bool(read)
    let result: PyRef
    if let key {
        let args = try PyRef.tuple(PyRef(borrowing: value), PyRef(borrowing: readObj.borrowed))
        let kwargs = try PyRef(new: PyDict_New())
        if PyDict_SetItemString(kwargs.borrowed, "key", key) < 0 { throw PythonErrorSet() }
        result = try PyRef(new: PyObject_Call(store.borrowed, args.borrowed, kwargs.borrowed))
    } else {
        result = try .call(store.borrowed, value, readObj.borrowed)
    }
    let r = result.borrowed
    guard dcs_tuple_check(r) != 0, dcs_tuple_size(r) == 4 else {
        throw pythonError(PyExc_TypeError, "Disk.store must return (size, mode, filename, value), not \(typeName(r))")
    }
    let modeObj = dcs_tuple_item(r, 1)!
    let mode = dcs_long_check(modeObj) != 0 ? PyLong_AsLong(modeObj) : -1
    guard (1...4).contains(mode) else {
        PyErr_Clear()
        throw pythonError(PyExc_TypeError, "Disk.store returned mode \(reprText(modeObj)); expected MODE_RAW, MODE_BINARY, MODE_TEXT or MODE_PICKLE (1-4)")
    }
    let filename = dcs_tuple_item(r, 2)!
    let dbValue = dcs_tuple_item(r, 3)!
    if dcs_is_none(filename) == 0 {
        guard dcs_unicode_check(filename) != 0, let p = PyUnicode_AsUTF8(filename) else {
            PyErr_Clear()
            throw pythonError(PyExc_TypeError, "Disk.store returned filename \(reprText(filename)); expected str or None")
        }
        let kind: ItemKind = mode == 3 ? .text : mode == 4 ? .pickle : .blob
        return try body(kind, .existingFile(String(cString: p)))
    }
    if mode == 4 {
        guard dcs_bytes_check(dbValue) != 0 else {
            throw pythonError(PyExc_TypeError, "Disk.store returned MODE_PICKLE with value \(reprText(dbValue)); expected bytes")
        }
        return try body(.pickle, .bytes(UnsafeRawBufferPointer(start: dcs_bytes_data(dbValue), count: dcs_bytes_size(dbValue)), .inline))
    }
    guard mode == 1 else {
        throw pythonError(PyExc_TypeError, "Disk.store returned mode \(mode) without a filename")
    }
    // Raw values go inline: the Disk already decided they are small.
    return try withNativeValue(s, dbValue, read: false, minFileSize: Int.max, body)
}

/// Stores from `source` with python-diskcache's `retry`, which retries only taking the lock:
/// a value that cannot be produced twice (a stream, a file a custom Disk wrote, which the
/// engine removes when a store fails) is stored with the lock already held.
func storing<R>(_ s: CoreState, _ source: ValueSource, retry: Bool, _ body: () throws -> R) throws -> R {
    if case .bytes = source { return try retrying(retry, body) }
    guard retry else { return try body() }
    return try transaction(s, retry: true, body)
}

enum SetParam: Int, Parameters { case key, value, expire, read, tag, retry }

func storeItem(_ s: CoreState, _ a: Arguments<SetParam>, onlyIfAbsent: Bool, retry: Bool) throws -> Bool {
    let expire = try expireTime(a[.expire])
    let read = try a.flag(.read)
    return try s.withKey(a[.key]!, forWriting: true) { k in
        try s.withTag(a[.tag]) { tag in
            try withValue(s, a[.value]!, read: read, key: a[.key]) { kind, source in
                try storing(s, source, retry: retry) {
                    try s.cache.store(k, kind: kind, source, expireTime: expire, tag: tag, onlyIfAbsent: onlyIfAbsent)
                }
            }
        }
    }
}

let sigSet = Signature<SetParam>("set", required: 2)
let cacheSet: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigSet.parse(args, nargs, kw)
        _ = try storeItem(s, a, onlyIfAbsent: false, retry: try a.flag(.retry))
        return .bool(true)
    }
}

let cacheSetItem: @convention(c) (PyObj?, PyObj?, PyObj?) -> Int32 = { slf, key, value in
    slot(slf) { s in
        if let value {
            var a = Arguments<SetParam>()
            a[.key] = key
            a[.value] = value
            _ = try storeItem(s, a, onlyIfAbsent: false, retry: true)
            return
        }
        guard try s.withKey(key!, { k in try retrying(true) { try s.cache.delete(k) } }) else { throw keyError(key!) }
    }
}

let sigAdd = Signature<SetParam>("add", required: 2)
let cacheAdd: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigAdd.parse(args, nargs, kw)
        return .bool(try storeItem(s, a, onlyIfAbsent: true, retry: try a.flag(.retry)))
    }
}

enum DeleteParam: Int, Parameters { case key, retry }
let sigDelete = Signature<DeleteParam>("delete", required: 1)
let cacheDelete: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigDelete.parse(args, nargs, kw)
        let retry = try a.flag(.retry)
        return .bool(try s.withKey(a[.key]!) { k in try retrying(retry) { try s.cache.delete(k) } })
    }
}

let sigDelItem = Signature<DeleteParam>("__delitem__", required: 1)
let cacheDelItemMethod: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigDelItem.parse(args, nargs, kw)
        let retry = try a.flag(.retry, default: true)
        guard try s.withKey(a[.key]!, { k in try retrying(retry) { try s.cache.delete(k) } }) else { throw keyError(a[.key]!) }
        return .bool(true)
    }
}

let cacheContains: @convention(c) (PyObj?, PyObj?) -> Int32 = { slf, key in
    var found = false
    guard slot(slf, { s in found = try s.withKey(key!) { try s.cache.contains($0) } }) == 0 else { return -1 }
    return found ? 1 : 0
}

let cacheLength: @convention(c) (PyObj?) -> Py_ssize_t = { slf in
    var n = 0
    guard slot(slf, { s in n = try s.cache.count() }) == 0 else { return -1 }
    return n
}

enum PopParam: Int, Parameters { case key, `default`, expireTime, tag, retry }
let sigPop = Signature<PopParam>("pop", required: 1)
let cachePop: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigPop.parse(args, nargs, kw)
        let wantExpire = try a.flag(.expireTime), wantTag = try a.flag(.tag), retry = try a.flag(.retry)
        // One transaction: if the value cannot be made (unpickling, a custom Disk's fetch),
        // the item is not removed.
        var result: PyRef? = nil
        if DiskCache.isWithoutWaiting && s.customDisk == nil {
            // `_engine.attempt` (asyncio): the engine begins no transaction without waiting, so
            // only a value that cannot fail to be made is popped here, in one plain write; a
            // pickled value or tag is refused before anything happened (and popped in a
            // transaction off the loop). A value file is refused by the engine.
            var item: CopiedItem? = nil
            try s.withKey(a[.key]!) { k in
                item = try s.cache.pop(k) { view -> CopiedItem in
                    if view.kind == .pickle || (wantTag && view.tagKind == .pickle) {
                        throw DiskCacheError(.wouldBlock, "Would wait (a pickled value is popped in a transaction); nothing was done")
                    }
                    return CopiedItem(view, tag: wantTag)
                }
            }
            if let item, let value = try s.value(of: item, read: false) {
                return try wrap(value, expire: item.expire, tag: wantTag ? try item.tagObject() : .none, wantExpire: wantExpire, wantTag: wantTag)
            }
            return try missing(a[.default], wantExpire: wantExpire, wantTag: wantTag)
        }
        try s.withKey(a[.key]!) { k in
            try transaction(s, retry: retry) {
                guard let item = try s.cache.pop(k, { CopiedItem($0, tag: wantTag) }),
                      let value = try s.value(of: item, read: false) else { return }
                result = try wrap(value, expire: item.expire, tag: wantTag ? try item.tagObject() : .none, wantExpire: wantExpire, wantTag: wantTag)
            }
        }
        if let result = result.take() { return result }
        return try missing(a[.default], wantExpire: wantExpire, wantTag: wantTag)
    }
}

enum IncrParam: Int, Parameters { case key, delta, `default`, retry }
let sigIncr = Signature<IncrParam>("incr", required: 1)
let sigDecr = Signature<IncrParam>("decr", required: 1)

/// `incr`/`decr`. python-diskcache's ints are unbounded; the engine's are 64-bit: every result
/// that fits is exact (a delta that does not fit, like `decr(k, -2**63)`, is applied in steps
/// in one transaction), one that does not is an OverflowError and stores nothing.
func incr(_ s: CoreState, _ a: Arguments<IncrParam>, sign: Int64, name: String) throws -> PyRef {
    func overflow(_ what: String) -> PythonErrorSet {
        pythonError(PyExc_OverflowError, "\(name)() \(what) does not fit in a 64-bit integer (the cache stores integers in 64 bits)")
    }
    func integer(_ o: PyObj) throws -> PyObj {
        guard dcs_long_check(o) != 0 else {
            throw pythonError(PyExc_TypeError, "\(name)() delta and default must be integers, not \(typeName(o))")
        }
        return o
    }
    func int64(_ o: PyObj, _ what: String) throws -> Int64 {
        var over: Int32 = 0
        let v = PyLong_AsLongLongAndOverflow(try integer(o), &over)
        if v == -1 && PyErr_Occurred() != nil { throw PythonErrorSet() }
        if over != 0 { throw overflow(what) }
        return Int64(v)
    }
    let retry = try a.flag(.retry)
    let initial: Int64?
    if let d = a[.default] {
        initial = dcs_is_none(d) != 0 ? nil : try int64(d, "default")
    } else {
        initial = 0
    }
    // Usually one step; a delta beyond 64 bits (|delta| < 2**64 can still give a result that
    // fits) is applied in up to three steps of one sign, so the running value stays between
    // the old and the new.
    var steps: [Int64] = []
    var delta = sign
    if let d = a[.delta] {
        var over: Int32 = 0
        let v = PyLong_AsLongLongAndOverflow(try integer(d), &over)
        if v == -1 && PyErr_Occurred() != nil { throw PythonErrorSet() }
        if over == 0 && !(sign == -1 && v == Int64.min) {
            delta = sign == 1 ? Int64(v) : -Int64(v)
        } else {
            let negative = (over != 0 ? over < 0 : v < 0) == (sign == 1)
            let magnitude = try PyRef(new: PyNumber_Absolute(d))
            var m = PyLong_AsUnsignedLongLong(magnitude.borrowed)
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
    let result: DiskCache.Number? = try s.withKey(a[.key]!, forWriting: true) { k in
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
    switch result {
    case nil: throw keyError(a[.key]!)
    case .int(let v): return try .int(v)
    case .float(let d): return try .float(d)
    }
}

let cacheIncr: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in try incr(s, try sigIncr.parse(args, nargs, kw), sign: 1, name: "incr") }
}

let cacheDecr: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in try incr(s, try sigDecr.parse(args, nargs, kw), sign: -1, name: "decr") }
}

enum TouchParam: Int, Parameters { case key, expire, retry }
let sigTouch = Signature<TouchParam>("touch", required: 1)
let cacheTouch: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigTouch.parse(args, nargs, kw)
        let expire = try expireTime(a[.expire])
        let retry = try a.flag(.retry)
        return .bool(try s.withKey(a[.key]!) { k in try retrying(retry) { try s.cache.touch(k, expireTime: expire) } })
    }
}
