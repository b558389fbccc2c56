@preconcurrency import CPython
import DiskCache

// Less frequent calls, used by the Python `Cache` class around the hot methods.

/// A list of `count` items made one at a time by `item`.
func pyList(_ count: Int, _ item: (Int) throws -> PyRef) throws -> PyRef {
    let list = try PyRef(new: PyList_New(0))
    for i in 0..<count {
        let o = try item(i)
        if PyList_Append(list.borrowed, o.borrowed) < 0 { throw PythonErrorSet() }
    }
    return list
}

/// An int argument (TypeError naming it otherwise).
func intArgument(_ o: PyObj, _ name: String) throws -> Int64 {
    guard dcs_long_check(o) != 0 else {
        throw pythonError(PyExc_TypeError, "\(name) must be an int, not \(typeName(o))")
    }
    let v = PyLong_AsLongLong(o)
    if v == -1 && PyErr_Occurred() != nil { throw PythonErrorSet() }
    return Int64(v)
}

enum KeysPageParam: Int, Parameters { case cursor, bound, reverse, limit }
let sigKeysPage = Signature<KeysPageParam>("_keys_page", required: 4)
/// (keys, last rowid) after the rowid cursor (None: from the start), up to the bound.
let coreKeysPage: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigKeysPage.parse(args, nargs, kw)
        let cursor: Int64? = dcs_is_none(a[.cursor]!) != 0 ? nil : try intArgument(a[.cursor]!, "cursor")
        let bound = try intArgument(a[.bound]!, "bound")
        let limit = Int(try intArgument(a[.limit]!, "limit"))
        let page = try s.cache.keysPage(after: cursor, bound: bound, reverse: try a.flag(.reverse), limit: limit)
        let keys = try pyList(page.count) { try s.decodeKey(page[$0].key) }
        return try .tuple(keys, try page.last.map { try .int($0.rowid) } ?? .none)
    }
}

let coreRowidBounds: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in
        guard let b = try s.cache.rowidBounds() else { return .none }
        return try .tuple(try .int(b.min), try .int(b.max))
    }
}

enum SortedKeysParam: Int, Parameters { case reverse }
let sigSortedKeys = Signature<SortedKeysParam>("_sorted_keys", required: 1)
let coreSortedKeys: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigSortedKeys.parse(args, nargs, kw)
        let keys = try s.cache.keysInKeyOrder(reverse: try a.flag(.reverse))
        return try pyList(keys.count) { try s.decodeKey(keys[$0]) }
    }
}

enum ExpireParam: Int, Parameters { case now, retry }
let sigExpire = Signature<ExpireParam>("_expire", required: 1)
let coreExpire: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigExpire.parse(args, nargs, kw)
        let t: Double? = dcs_is_none(a[.now]!) != 0 ? nil : PyFloat_AsDouble(a[.now]!)
        if PyErr_Occurred() != nil { throw PythonErrorSet() }
        let retry = try a.flag(.retry)
        return try .int(try retrying(retry) { try s.cache.expire(now: t) })
    }
}

enum EvictParam: Int, Parameters { case tag, retry }
let sigEvict = Signature<EvictParam>("_evict", required: 1)
let coreEvict: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigEvict.parse(args, nargs, kw)
        let retry = try a.flag(.retry)
        // None and NaN are no tag (SQLite's NULL): no item has it.
        let n = try s.withTag(a[.tag]) { tag in try tag.map { tag in try retrying(retry) { try s.cache.evict(tag: tag) } } ?? 0 }
        return try .int(n)
    }
}

enum RetryParam: Int, Parameters { case retry }
let sigRetryOnly = Signature<RetryParam>("_op", required: 0)
let coreClear: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let retry = try sigRetryOnly.parse(args, nargs, kw).flag(.retry)
        return try .int(try retrying(retry) { try s.cache.clear() })
    }
}

let coreCull: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let retry = try sigRetryOnly.parse(args, nargs, kw).flag(.retry)
        return try .int(try retrying(retry) { try s.cache.cull() })
    }
}

let coreVolume: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in try .int(try s.cache.volume()) }
}

let coreStats: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in
        let (h, m) = try s.cache.stats()
        return try .tuple(try .int(h), try .int(m))
    }
}

let coreResetStats: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in
        try s.cache.resetStats()
        return .none
    }
}

func settingObject(_ v: SettingValue) throws -> PyRef {
    switch v {
    case .int(let i): return try .int(i)
    case .float(let d): return try .float(d)
    case .text(let t): return try .string(t)
    }
}

/// A Python setting value as persisted: ints (and bools), floats, text; anything else by str().
func settingValue(_ o: PyObj) throws -> SettingValue {
    if dcs_long_check(o) != 0 {
        var overflow: Int32 = 0
        let v = PyLong_AsLongLongAndOverflow(o, &overflow)
        if overflow == 0 { return .int(Int64(v)) }
        return .float(PyLong_AsDouble(o))
    }
    if dcs_float_check(o) != 0 { return .float(PyFloat_AsDouble(o)) }
    let str = try PyRef(new: PyObject_Str(o))
    guard let p = PyUnicode_AsUTF8(str.borrowed) else { throw PythonErrorSet() }
    return .text(String(cString: p))
}

let coreSettings: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in
        let d = try PyRef(new: PyDict_New())
        for (k, v) in try s.cache.allSettings() {
            let o = try settingObject(v)
            if PyDict_SetItemString(d.borrowed, k, o.borrowed) < 0 { throw PythonErrorSet() }
        }
        return d
    }
}

/// A str argument as Swift text (TypeError naming it otherwise).
func stringArgument(_ o: PyObj, _ name: String) throws -> String {
    guard dcs_unicode_check(o) != 0 else {
        throw pythonError(PyExc_TypeError, "\(name) must be a str, not \(typeName(o))")
    }
    guard let p = PyUnicode_AsUTF8(o) else { throw PythonErrorSet() }
    return String(cString: p)
}

enum UpdateSettingParam: Int, Parameters { case name, value }
let sigUpdateSetting = Signature<UpdateSettingParam>("_update_setting", required: 2)
let coreUpdateSetting: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigUpdateSetting.parse(args, nargs, kw)
        let name = try stringArgument(a[.name]!, "name")
        let value = try settingValue(a[.value]!)
        try retrying(true) { try s.cache.updateSetting(name, value) }
        return .none
    }
}

enum ConfigureParam: Int, Parameters { case minFileSize, pickleProtocol, disk, timeout, remove }
let sigConfigure = Signature<ConfigureParam>("_configure", required: 4)
/// The Disk's parameters (python-diskcache keeps them on the Disk instance) and the lock
/// timeout; `disk` is None for the built-in rules or a Disk subclass instance.
let coreConfigure: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigConfigure.parse(args, nargs, kw)
        let minFileSize = Int(try intArgument(a[.minFileSize]!, "min_file_size"))
        let timeout = PyFloat_AsDouble(a[.timeout]!)
        if PyErr_Occurred() != nil { throw PythonErrorSet() }
        s.minFileSize = minFileSize
        s.pickleProtocolObject = PyRef(borrowing: a[.pickleProtocol]!)
        s.customDiskObject = dcs_is_none(a[.disk]!) != 0 ? nil : PyRef(borrowing: a[.disk]!)
        s.cache.lockTimeout = .seconds(timeout)
        if let remove = a[.remove], dcs_is_none(remove) == 0 {
            s.diskRemoveObject = PyRef(borrowing: remove)
            s.cache.reportsRemovedValueFiles = true
        } else {
            s.diskRemoveObject = nil
            s.cache.reportsRemovedValueFiles = false
        }
        return .none
    }
}

enum CheckParam: Int, Parameters { case fix, retry }
let sigCheck = Signature<CheckParam>("_check", required: 1)
/// [(kind, message)], kind one of 'damaged', 'file', 'unknown', 'empty', 'count', 'compaction'.
let coreCheck: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigCheck.parse(args, nargs, kw)
        let fix = try a.flag(.fix), retry = try a.flag(.retry)
        let findings = try retrying(retry) { try s.cache.check(fix: fix) }
        return try pyList(findings.count) { i in
            let kind: String
            switch findings[i].kind {
            case .damagedRecord: kind = "damaged"
            case .damagedValueFile: kind = "file"
            case .unknownFile: kind = "unknown"
            case .emptyDirectory: kind = "empty"
            case .countMismatch: kind = "count"
            case .compactionFailed: kind = "compaction"
            }
            return try .tuple(try .string(kind), try .string(findings[i].message))
        }
    }
}

let sigBegin = Signature<RetryParam>("_begin", required: 0)
let coreBegin: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let retry = try sigBegin.parse(args, nargs, kw).flag(.retry)
        try retrying(retry) { try s.cache.beginTransaction() }
        return .none
    }
}

enum EndParam: Int, Parameters { case commit }
let sigEnd = Signature<EndParam>("_end", required: 1)
let coreEnd: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let commit = try sigEnd.parse(args, nargs, kw).flag(.commit)
        try s.cache.endTransaction(commit: commit)
        return .none
    }
}

let coreClose: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in
        try s.cache.close()
        return .none
    }
}

let coreCompact: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in
        try retrying(true) { try s.cache.compact() }
        return .none
    }
}

let coreNetworkMode: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in .bool(s.cache.isNetworkMode) }
}
