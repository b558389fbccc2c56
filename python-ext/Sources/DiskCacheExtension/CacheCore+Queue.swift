@preconcurrency import CPython
import DiskCache

func queueSide(_ o: PyObj?, default d: QueueSide) throws -> QueueSide {
    guard let o else { return d }
    if dcs_unicode_check(o) != 0 {
        if PyUnicode_CompareWithASCIIString(o, "back") == 0 { return .back }
        if PyUnicode_CompareWithASCIIString(o, "front") == 0 { return .front }
    }
    // python-diskcache looks the side up in a dict.
    throw keyError(o)
}

func queuePrefix(_ o: PyObj?) throws -> String? {
    guard let o, dcs_is_none(o) == 0 else { return nil }
    let s = try PyRef(new: PyObject_Str(o))
    guard let p = PyUnicode_AsUTF8(s.borrowed) else { throw PythonErrorSet() }
    return String(cString: p)
}

enum PushParam: Int, Parameters { case value, prefix, side, expire, read, tag, retry }
let sigPush = Signature<PushParam>("push", required: 1)
let cachePush: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigPush.parse(args, nargs, kw)
        let prefix = try queuePrefix(a[.prefix])
        let side = try queueSide(a[.side], default: .back)
        let expire = try expireTime(a[.expire])
        let read = try a.flag(.read), retry = try a.flag(.retry)
        let key = try s.withTag(a[.tag]) { tag in
            try withValue(s, a[.value]!, read: read, key: nil) { kind, source in
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

/// ((key, value), expire_time, tag) in python-diskcache's shapes.
func wrapItem(_ s: CoreState, _ key: StoredKey, _ item: CopiedItem, throughDisk: Bool, wantExpire: Bool, wantTag: Bool) throws -> PyRef? {
    let k = try s.decodeKey(key, throughDisk: throughDisk)
    guard let value = try s.value(of: item, read: false) else { return nil }
    return try wrap(try .tuple(k, value), expire: item.expire, tag: wantTag ? try item.tagObject() : .none, wantExpire: wantExpire, wantTag: wantTag)
}

/// The default of an empty queue: `default`, or (None, None).
func emptyQueue(_ d: PyObj?, wantExpire: Bool, wantTag: Bool) throws -> PyRef {
    let value: PyRef = try d.map { PyRef(borrowing: $0) } ?? .tuple(.none, .none)
    return try wrap(value, expire: nil, tag: .none, wantExpire: wantExpire, wantTag: wantTag)
}

enum PullParam: Int, Parameters { case prefix, `default`, side, expireTime, tag, retry }
let sigPull = Signature<PullParam>("pull", required: 0)
let sigPeek = Signature<PullParam>("peek", required: 0)

func pull(_ s: CoreState, _ a: Arguments<PullParam>, remove: Bool) throws -> PyRef {
    let prefix = try queuePrefix(a[.prefix])
    let side = try queueSide(a[.side], default: .front)
    let wantExpire = try a.flag(.expireTime), wantTag = try a.flag(.tag), retry = try a.flag(.retry)
    var result: PyRef? = nil
    func take() throws {
        guard let (key, item) = try s.cache.pull(prefix: prefix, side: side, remove: remove, { ($0, CopiedItem($1, tag: wantTag)) }) else { return }
        result = try wrapItem(s, key, item, throughDisk: false, wantExpire: wantExpire, wantTag: wantTag)
    }
    // Removing: one transaction, so that if the value cannot be made (unpickling, a custom
    // Disk's fetch) the item stays.
    if remove { try transaction(s, retry: retry, take) } else { try retrying(retry, take) }
    if let result = result.take() { return result }
    return try emptyQueue(a[.default], wantExpire: wantExpire, wantTag: wantTag)
}

let cachePull: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in try pull(s, try sigPull.parse(args, nargs, kw), remove: true) }
}

let cachePeek: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in try pull(s, try sigPeek.parse(args, nargs, kw), remove: false) }
}

enum PeekItemParam: Int, Parameters { case last, expireTime, tag, retry }
let sigPeekItem = Signature<PeekItemParam>("peekitem", required: 0)
let cachePeekItem: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigPeekItem.parse(args, nargs, kw)
        let last = try a.flag(.last, default: true)
        let wantExpire = try a.flag(.expireTime), wantTag = try a.flag(.tag)
        let found = try retrying(try a.flag(.retry)) {
            try s.cache.peekItem(last: last) { ($0, CopiedItem($1, tag: wantTag)) }
        }
        guard let (key, item) = found, let result = try wrapItem(s, key, item, throughDisk: true, wantExpire: wantExpire, wantTag: wantTag) else {
            let message = try PyRef.string("dictionary is empty")
            throw keyError(message.borrowed)
        }
        return result
    }
}
