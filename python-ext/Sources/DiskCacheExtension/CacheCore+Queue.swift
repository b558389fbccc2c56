@preconcurrency import CPython
import DiskCache

func queueSide(_ o: PyObj?, default d: QueueSide) throws -> QueueSide {
    guard let o else { return d }
    if dcs_unicode_check(o) != 0 {
        if PyUnicode_CompareWithASCIIString(o, "back") == 0 { return .back }
        if PyUnicode_CompareWithASCIIString(o, "front") == 0 { return .front }
    }
    // python-diskcache looks the side up in a dict.
    dcs_key_error(o)
    throw PythonErrorSet()
}

func queuePrefix(_ o: PyObj?) throws -> String? {
    guard let o, dcs_is_none(o) == 0 else { return nil }
    let s = try check(PyObject_Str(o))
    defer { dcs_decref(s) }
    guard let p = PyUnicode_AsUTF8(s) else { throw PythonErrorSet() }
    return String(cString: p)
}

let sigPush = Signature("push", ["value", "prefix", "side", "expire", "read", "tag", "retry"], required: 1)
let cachePush: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigPush.parse(args, nargs, kw)
        let prefix = try queuePrefix(a[1])
        let side = try queueSide(a[2], default: .back)
        let expire = try expireTime(a[3])
        let read = try a.flag(4), retry = try a.flag(6)
        let key = try s.withTag(a[5]) { tag in
            try withValue(s, a[0]!, read: read, key: nil) { kind, source in
                try storing(s, source, retry: retry) {
                    try s.cache.push(prefix: prefix, side: side, kind: kind, source, expireTime: expire, tag: tag)
                }
            }
        }
        // python-diskcache stores and returns queue keys as they are, never through a
        // custom Disk.
        return try s.decodeKey(key, throughDisk: false)
    }
}

/// An item taken from the cache by key: key, value, expire time, tag (all owned).
typealias TakenItem = (key: PyObj, value: PyObj, expire: Double?, tag: PyObj)

/// Builds the owned Python parts of an item inside an engine closure.
func takeItem(_ s: CoreState, _ key: StoredKey, _ view: ItemView, throughDisk: Bool) -> (PyObj?, PyObj?, PyObj?, ItemKind, Bool, String?, Double?) {
    let k: PyObj? = (try? s.decodeKey(key, throughDisk: throughDisk))
    return (k, s.rawValue(view), s.decodeTag(view.tagKind, view.tag), view.kind, view.isMaterialized, view.filePath, view.expireTime)
}

func finishTaken(_ s: CoreState, _ parts: (PyObj?, PyObj?, PyObj?, ItemKind, Bool, String?, Double?)) throws -> TakenItem {
    guard let k = parts.0, let raw = parts.1, let tag = parts.2 else {
        dcs_xdecref(parts.0); dcs_xdecref(parts.1); dcs_xdecref(parts.2)
        throw PythonErrorSet()
    }
    do {
        let v = try s.finishValue(raw, kind: parts.3, materialized: parts.4, file: s.customDisk == nil ? parts.5 : nil, read: false)
        return (k, v, parts.6, tag)
    } catch {
        dcs_decref(k); dcs_decref(tag)
        throw error
    }
}

/// ((key, value), expire_time, tag) in python-diskcache's shapes.
func wrapItem(_ item: TakenItem, wantExpire: Bool, wantTag: Bool) -> PyObj? {
    let pair = dcs_pack2(item.key, item.value)
    dcs_decref(item.key)
    dcs_decref(item.value)
    defer { dcs_decref(item.tag) }
    guard let pair else { return nil }
    return wrap(pair, expire: item.expire, tag: item.tag, wantExpire: wantExpire, wantTag: wantTag)
}

let sigPull = Signature("pull", ["prefix", "default", "side", "expire_time", "tag", "retry"], required: 0)
let sigPeek = Signature("peek", ["prefix", "default", "side", "expire_time", "tag", "retry"], required: 0)

func pull(_ s: CoreState, _ a: Arguments, remove: Bool) throws -> PyObj? {
    let prefix = try queuePrefix(a[0])
    let side = try queueSide(a[2], default: .front)
    let wantExpire = try a.flag(3), wantTag = try a.flag(4), retry = try a.flag(5)
    func take() throws -> TakenItem? {
        let parts = try s.cache.pull(prefix: prefix, side: side, remove: remove) { key, view in takeItem(s, key, view, throughDisk: false) }
        return try parts.map { try finishTaken(s, $0) }
    }
    // Removing: one transaction, so that if the value cannot be made (unpickling, a custom
    // Disk's fetch) the item stays.
    let item = remove ? try transaction(s, retry: retry, take) : try retrying(retry, take)
    guard let item else {
        let d: PyObj
        if let given = a[1] {
            d = dcs_newref(given)!
        } else {
            d = dcs_pack2(dcs_py_none(), dcs_py_none())!
        }
        if !wantExpire && !wantTag { return d }
        return wrap(d, expire: nil, tag: nil, wantExpire: wantExpire, wantTag: wantTag)
    }
    return wrapItem(item, wantExpire: wantExpire, wantTag: wantTag)
}

let cachePull: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in try pull(s, try sigPull.parse(args, nargs, kw), remove: true) }
}

let cachePeek: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in try pull(s, try sigPeek.parse(args, nargs, kw), remove: false) }
}

let sigPeekItem = Signature("peekitem", ["last", "expire_time", "tag", "retry"], required: 0)
let cachePeekItem: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigPeekItem.parse(args, nargs, kw)
        let last = a[0] == nil ? true : try a.flag(0)
        let wantExpire = try a.flag(1), wantTag = try a.flag(2)
        let parts = try retrying(try a.flag(3)) {
            try s.cache.peekItem(last: last) { key, view in takeItem(s, key, view, throughDisk: true) }
        }
        guard let parts else {
            let msg = try check(pyString("dictionary is empty"))
            defer { dcs_decref(msg) }
            return dcs_key_error(msg)
        }
        return wrapItem(try finishTaken(s, parts), wantExpire: wantExpire, wantTag: wantTag)
    }
}
