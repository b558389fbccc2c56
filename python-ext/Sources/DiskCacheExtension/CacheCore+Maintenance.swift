@preconcurrency import CPython
import DiskCache

// Less frequent calls, used by the Python `Cache` class around the hot methods.

func pyList(_ items: [PyObj]) throws -> PyObj {
    let list = try check(PyList_New(items.count))
    for (i, o) in items.enumerated() { PyList_SetItem(list, i, o) }
    return list
}

let sigKeysPage = PositionalSignature("_keys_page", ["cursor", "bound", "reverse", "limit"], required: 4)
/// (keys, last rowid) after the rowid cursor (None: from the start), up to the bound.
let coreKeysPage: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigKeysPage.parse(args, nargs, kw)
        let cursor: Int64? = dcs_is_none(a[0]!) != 0 ? nil : Int64(PyLong_AsLongLong(a[0]))
        let bound = Int64(PyLong_AsLongLong(a[1]))
        let page = try s.cache.keysPage(after: cursor, bound: bound, reverse: try a.flag(2), limit: PyLong_AsLong(a[3]))
        var keys: [PyObj] = []
        do {
            for item in page { keys.append(try s.decodeKey(item.key).take()) }
        } catch {
            keys.forEach { dcs_decref($0) }
            throw error
        }
        let list = try pyList(keys)
        let last = page.last.map { PyLong_FromLongLong($0.rowid) } ?? dcs_none()
        defer { dcs_decref(list); dcs_xdecref(last) }
        return dcs_pack2(list, last)
    }
}

let coreRowidBounds: FastCallFunction = { slf, _, _, _ in
    legacyMethod(slf) { s in
        guard let b = try s.cache.rowidBounds() else { return dcs_none() }
        let lo = PyLong_FromLongLong(b.min), hi = PyLong_FromLongLong(b.max)
        defer { dcs_xdecref(lo); dcs_xdecref(hi) }
        return dcs_pack2(lo, hi)
    }
}

let sigSortedKeys = PositionalSignature("_sorted_keys", ["reverse"], required: 1)
let coreSortedKeys: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigSortedKeys.parse(args, nargs, kw)
        var keys: [PyObj] = []
        do {
            for k in try s.cache.keysInKeyOrder(reverse: try a.flag(0)) { keys.append(try s.decodeKey(k).take()) }
        } catch {
            keys.forEach { dcs_decref($0) }
            throw error
        }
        return try pyList(keys)
    }
}

let sigExpire = PositionalSignature("_expire", ["now", "retry"], required: 1)
let coreExpire: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigExpire.parse(args, nargs, kw)
        let t: Double? = dcs_is_none(a[0]!) != 0 ? nil : PyFloat_AsDouble(a[0])
        if PyErr_Occurred() != nil { throw PythonErrorSet() }
        return PyLong_FromLong(try retrying(try a.flag(1)) { try s.cache.expire(now: t) })
    }
}

let sigEvict = PositionalSignature("_evict", ["tag", "retry"], required: 1)
let coreEvict: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigEvict.parse(args, nargs, kw)
        if dcs_is_none(a[0]!) != 0 { return PyLong_FromLong(0) }
        let retry = try a.flag(1)
        // A NaN tag is no tag (SQLite's NULL): no item has it.
        let n = try s.withTag(a[0]) { tag in try tag.map { tag in try retrying(retry) { try s.cache.evict(tag: tag) } } ?? 0 }
        return PyLong_FromLong(n)
    }
}

let sigRetryOnly = PositionalSignature("_op", ["retry"], required: 0)
let coreClear: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigRetryOnly.parse(args, nargs, kw)
        return PyLong_FromLong(try retrying(try a.flag(0)) { try s.cache.clear() })
    }
}

let coreCull: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigRetryOnly.parse(args, nargs, kw)
        return PyLong_FromLong(try retrying(try a.flag(0)) { try s.cache.cull() })
    }
}

let coreVolume: FastCallFunction = { slf, _, _, _ in
    legacyMethod(slf) { s in PyLong_FromLongLong(try s.cache.volume()) }
}

let coreStats: FastCallFunction = { slf, _, _, _ in
    legacyMethod(slf) { s in
        let (h, m) = try s.cache.stats()
        let ho = PyLong_FromLongLong(h), mo = PyLong_FromLongLong(m)
        defer { dcs_xdecref(ho); dcs_xdecref(mo) }
        return dcs_pack2(ho, mo)
    }
}

let coreResetStats: FastCallFunction = { slf, _, _, _ in
    legacyMethod(slf) { s in
        try s.cache.resetStats()
        return dcs_none()
    }
}

func settingObject(_ v: SettingValue) -> PyObj? {
    switch v {
    case .int(let i): return PyLong_FromLongLong(i)
    case .float(let d): return PyFloat_FromDouble(d)
    case .text(let t): return pyString(t)
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
    let str = try check(PyObject_Str(o))
    defer { dcs_decref(str) }
    guard let p = PyUnicode_AsUTF8(str) else { throw PythonErrorSet() }
    return .text(String(cString: p))
}

let coreSettings: FastCallFunction = { slf, _, _, _ in
    legacyMethod(slf) { s in
        let d = try check(PyDict_New())
        for (k, v) in try s.cache.allSettings() {
            guard let o = settingObject(v) else { dcs_decref(d); throw PythonErrorSet() }
            PyDict_SetItemString(d, k, o)
            dcs_decref(o)
        }
        return d
    }
}

let sigUpdateSetting = PositionalSignature("_update_setting", ["name", "value"], required: 2)
let coreUpdateSetting: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigUpdateSetting.parse(args, nargs, kw)
        guard let p = PyUnicode_AsUTF8(a[0]) else { throw PythonErrorSet() }
        try retrying(true) { try s.cache.updateSetting(String(cString: p), try settingValue(a[1]!)) }
        return dcs_none()
    }
}

let sigConfigure = PositionalSignature("_configure", ["min_file_size", "pickle_protocol", "disk", "timeout"], required: 4)
/// The Disk's parameters (python-diskcache keeps them on the Disk instance) and the lock
/// timeout; `disk` is None for the built-in rules or a Disk subclass instance.
let coreConfigure: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigConfigure.parse(args, nargs, kw)
        s.minFileSize = PyLong_AsLong(a[0])
        if PyErr_Occurred() != nil { throw PythonErrorSet() }
        dcs_decref(s.pickleProtocol)
        s.pickleProtocol = dcs_newref(a[1])!
        if let old = s.customDisk { dcs_decref(old) }
        s.customDisk = dcs_is_none(a[2]!) != 0 ? nil : dcs_newref(a[2])
        let timeout = PyFloat_AsDouble(a[3])
        if PyErr_Occurred() != nil { throw PythonErrorSet() }
        s.cache.lockTimeout = timeout
        return dcs_none()
    }
}

let sigCheck = PositionalSignature("_check", ["fix", "retry"], required: 1)
/// [(kind, message)], kind one of 'damaged', 'file', 'unknown', 'empty', 'count'.
let coreCheck: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigCheck.parse(args, nargs, kw)
        let fix = try a.flag(0)
        let findings = try retrying(try a.flag(1)) { try s.cache.check(fix: fix) }
        var items: [PyObj] = []
        for f in findings {
            let kind: String
            switch f.kind {
            case .damagedRecord: kind = "damaged"
            case .damagedValueFile: kind = "file"
            case .unknownFile: kind = "unknown"
            case .emptyDirectory: kind = "empty"
            case .countMismatch: kind = "count"
            }
            let k = pyString(kind), m = pyString(f.message)
            defer { dcs_xdecref(k); dcs_xdecref(m) }
            items.append(try check(dcs_pack2(k, m)))
        }
        return try pyList(items)
    }
}

let sigBegin = PositionalSignature("_begin", ["retry"], required: 0)
let coreBegin: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigBegin.parse(args, nargs, kw)
        try retrying(try a.flag(0)) { try s.cache.beginTransaction() }
        return dcs_none()
    }
}

let sigEnd = PositionalSignature("_end", ["commit"], required: 1)
let coreEnd: FastCallFunction = { slf, args, nargs, kw in
    legacyMethod(slf) { s in
        let a = try sigEnd.parse(args, nargs, kw)
        try s.cache.endTransaction(commit: try a.flag(0))
        return dcs_none()
    }
}

let coreClose: FastCallFunction = { slf, _, _, _ in
    legacyMethod(slf) { s in
        s.cache.close()
        return dcs_none()
    }
}

let coreCompact: FastCallFunction = { slf, _, _, _ in
    legacyMethod(slf) { s in
        try retrying(true) { try s.cache.compact() }
        return dcs_none()
    }
}

let coreNetworkMode: FastCallFunction = { slf, _, _, _ in
    legacyMethod(slf) { s in
        dcs_bool(s.cache.isNetworkMode ? 1 : 0)
    }
}
