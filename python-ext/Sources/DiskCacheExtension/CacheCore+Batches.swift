@preconcurrency import CPython
import DiskCache

// Batches and listing (issue 11): `get_many`, `set_many`, `delete_many` (one call into the
// engine per batch: one read, or one write with one lock acquisition and one append), and
// the listing calls behind `keys`/`values`/`items`, `iterinfo` and `iterkeys_by_tag`.

// MARK: Batches

/// A list of the elements of `iterable` (TypeError naming `argument` if it is not one).
func listArgument(_ iterable: PyObj, _ argument: String, what: String) throws -> PyRef {
    guard let list = PySequence_List(iterable) else {
        if PyErr_ExceptionMatches(PyExc_TypeError) != 0 && PyObject_HasAttrString(iterable, "__iter__") == 0 {
            PyErr_Clear()
            throw pythonError(PyExc_TypeError, "\(argument) must be an iterable of \(what), not \(typeName(iterable))")
        }
        throw PythonErrorSet()
    }
    return PyRef(owned: list)
}

/// The engine forms of the keys of a list, through the Disk as `withKey` makes them.
func keyList(_ s: CoreState, _ keys: PyObj, hashable: Bool) throws -> KeyList {
    var list = KeyList()
    for n in 0..<PyList_Size(keys) {
        let key = PyList_GetItem(keys, n)!
        if hashable && PyObject_Hash(key) == -1 {
            PyErr_Clear()
            throw pythonError(PyExc_TypeError, "keys: unhashable type: '\(typeName(key))' (get_many returns a dict keyed by the keys)")
        }
        try s.withKey(key) { list.append($0) }
    }
    return list
}

enum GetManyParam: Int, Parameters { case keys, `default`, read, expireTime, tag, retry }
let sigGetMany = Signature<GetManyParam>("get_many", required: 1)
/// `get_many(keys, default=None, read=False, expire_time=False, tag=False, retry=False)`: a
/// dict of the keys that have a live item, each value shaped as `get` returns it; with a
/// `default` other than None, missing keys map to it (shaped the same way).
let cacheGetMany: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigGetMany.parse(args, nargs, kw)
        let wantExpire = try a.flag(.expireTime), wantTag = try a.flag(.tag)
        let read = try a.flag(.read), retry = try a.flag(.retry)
        let defaultValue = a[.default].flatMap { dcs_is_none($0) != 0 ? nil : $0 }
        let keys = try listArgument(a[.keys]!, "keys", what: "keys")
        let list = try keyList(s, keys.borrowed, hashable: true)
        var items = [CopiedItem?](repeating: nil, count: list.count)
        try retrying(retry) {
            for n in items.indices { items[n] = nil }
            try s.cache.withItems(list, readFile: { _ in false }) { n, view in
                try refuseFileWithoutWaiting(view)
                items[n] = CopiedItem(view, tag: wantTag)
            }
        }
        let result = try PyRef(new: PyDict_New())
        for n in items.indices {
            let key = PyList_GetItem(keys.borrowed, n)!
            let shaped: PyRef
            if let item = items[n], let value = try s.value(of: item, read: read) {
                shaped = try wrap(value, expire: item.expire, tag: wantTag ? try item.tagObject() : .none, wantExpire: wantExpire, wantTag: wantTag)
            } else if let defaultValue {
                shaped = try missing(defaultValue, wantExpire: wantExpire, wantTag: wantTag)
            } else {
                continue
            }
            if PyDict_SetItem(result.borrowed, key, shaped.borrowed) < 0 { throw PythonErrorSet() }
        }
        return result
    }
}

/// Calls `body` with each (key, value) of `items`: a dict, a mapping (`items()`), or an
/// iterable of pairs, unpacked as `for key, value in items` would (same exception types,
/// messages naming `items`).
func forEachPair(_ items: PyObj, _ body: (PyObj, PyObj) throws -> Void) throws {
    if dcs_dict_exact(items) != 0 {
        // A copy: the values' pickling runs Python code, which could change the dict.
        let copy = try PyRef(new: PyDict_Copy(items))
        var pos: Py_ssize_t = 0
        var k: PyObj?
        var v: PyObj?
        while PyDict_Next(copy.borrowed, &pos, &k, &v) != 0 { try body(k!, v!) }
        return
    }
    let pairs: PyRef
    if PyObject_HasAttrString(items, "items") != 0 && PyObject_HasAttrString(items, "keys") != 0 {
        let method = try PyRef(new: PyObject_GetAttrString(items, "items"))
        let view = try PyRef(new: PyObject_CallNoArgs(method.borrowed))
        pairs = try listArgument(view.borrowed, "items", what: "(key, value) pairs")
    } else {
        pairs = try listArgument(items, "items", what: "(key, value) pairs, or a mapping")
    }
    for n in 0..<PyList_Size(pairs.borrowed) {
        let pair = PyList_GetItem(pairs.borrowed, n)!
        if dcs_tuple_check(pair) != 0 && dcs_tuple_size(pair) == 2 {
            try body(dcs_tuple_item(pair, 0)!, dcs_tuple_item(pair, 1)!)
            continue
        }
        guard let fast = PySequence_Fast(pair, "") else {
            PyErr_Clear()
            throw pythonError(PyExc_TypeError, "items: element \(n) is a \(typeName(pair)), not a (key, value) pair")
        }
        let seq = PyRef(owned: fast)
        let count = PySequence_Size(seq.borrowed)
        guard count == 2 else {
            throw pythonError(PyExc_ValueError, "items: element \(n) has \(count) values; a (key, value) pair has 2")
        }
        let key = try PyRef(new: PySequence_GetItem(seq.borrowed, 0))
        let value = try PyRef(new: PySequence_GetItem(seq.borrowed, 1))
        try body(key.borrowed, value.borrowed)
    }
}

/// `_pairs(items)`: the (key, value) pairs of `items` as `set_many` reads them, for the
/// Python code that routes them (FanoutCache).
let modulePairs: FastCallFunction = { _, args, nargs, _ in
    returning {
        guard nargs == 1, let items = args?[0] else { throw pythonError(PyExc_TypeError, "_pairs(items)") }
        let list = try PyRef(new: PyList_New(0))
        try forEachPair(items) { key, value in
            let pair = try PyRef.tuple(PyRef(borrowing: key), PyRef(borrowing: value))
            if PyList_Append(list.borrowed, pair.borrowed) < 0 { throw PythonErrorSet() }
        }
        return list
    }
}

/// `_iterable(obj, argument)`: list(obj), or TypeError naming `argument` (as the batch calls
/// name their arguments).
let moduleIterable: FastCallFunction = { _, args, nargs, _ in
    returning {
        guard nargs == 2, let obj = args?[0], let name = args?[1] else { throw pythonError(PyExc_TypeError, "_iterable(obj, argument)") }
        return try listArgument(obj, try stringArgument(name, "argument"), what: "keys")
    }
}

enum SetManyParam: Int, Parameters { case items, expire, read, tag, retry }
let sigSetMany = Signature<SetManyParam>("set_many", required: 1)
/// `set_many(items, expire=None, read=False, tag=None, retry=False)`: every key and value is
/// encoded (pickled, large values written to files) first; then one write stores them all.
/// A failing item stores none. Returns the number of items.
let cacheSetMany: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigSetMany.parse(args, nargs, kw)
        let expire = try expireTime(a[.expire])
        let read = try a.flag(.read), retry = try a.flag(.retry)
        let stored = try s.withTag(a[.tag]) { tag -> Int in
            var batch = s.takeBatch()
            defer {
                batch.removeAll()
                s.returnBatch(batch)
            }
            do {
                try forEachPair(a[.items]!) { key, value in
                    try s.withKey(key, forWriting: true) { k in
                        try withValue(s, value, read: read, key: key) { kind, source in
                            try s.cache.append(to: &batch, key: k, kind: kind, source)
                        }
                    }
                }
            } catch {
                s.cache.discard(batch)
                throw error
            }
            // A store that fails removes the batch's files: with files, `retry` retries only
            // taking the lock (as `storing` does for one value).
            if batch.hasFiles && retry {
                return try transaction(s, retry: true) { try s.cache.setMany(batch, expireTime: expire, tag: tag) }
            }
            if batch.hasFiles { return try s.cache.setMany(batch, expireTime: expire, tag: tag) }
            return try retrying(retry) { try s.cache.setMany(batch, expireTime: expire, tag: tag) }
        }
        return try .int(stored)
    }
}

enum DeleteManyParam: Int, Parameters { case keys, retry }
let sigDeleteMany = Signature<DeleteManyParam>("delete_many", required: 1)
/// `delete_many(keys, retry=False)`: one write; the number of keys that had a live item.
let cacheDeleteMany: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigDeleteMany.parse(args, nargs, kw)
        let retry = try a.flag(.retry)
        let keys = try listArgument(a[.keys]!, "keys", what: "keys")
        let list = try keyList(s, keys.borrowed, hashable: false)
        return try .int(try retrying(retry) { try s.cache.deleteMany(list) })
    }
}

// MARK: Listing

/// The live keys in insertion order (a snapshot).
let coreLiveKeys: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in
        let keys = try s.cache.liveKeys()
        return try pyList(keys.count) { try s.decodeKey(keys[$0]) }
    }
}

/// [(key, value)] of the live items in insertion order (a snapshot taken in one read; value
/// files read after it, an item whose file is gone by then left out).
let coreLiveItems: FastCallFunction = { slf, _, _, _ in
    method(slf) { s in
        var found: [(StoredKey, CopiedItem)] = []
        try s.cache.forEachLiveItem(readFile: { _ in false }) { key, view in found.append((key, CopiedItem(view, tag: false))) }
        let list = try PyRef(new: PyList_New(0))
        for (key, item) in found {
            guard let value = try s.value(of: item, read: false) else { continue }
            let pair = try PyRef.tuple(try s.decodeKey(key), value)
            if PyList_Append(list.borrowed, pair.borrowed) < 0 { throw PythonErrorSet() }
        }
        return list
    }
}

/// A stored tag as Python stores it (never unpickled, as `get(tag=True)` gives it).
func tagObject(_ tag: StoredKey?) throws -> PyRef {
    guard let tag else { return .none }
    return try tag.bytes.withUnsafeBytes { Copied(tag.kind, $0) }.object()
}

/// (key, expire_time, tag, store_time, size) of one item.
func infoTuple(_ s: CoreState, _ info: ItemInfo) throws -> PyRef {
    let tuple = try PyRef(new: PyTuple_New(5))
    dcs_tuple_set(tuple.borrowed, 0, try s.decodeKey(info.key).take())
    dcs_tuple_set(tuple.borrowed, 1, try PyRef.float(info.expireTime).take())
    dcs_tuple_set(tuple.borrowed, 2, try tagObject(info.tag).take())
    dcs_tuple_set(tuple.borrowed, 3, try PyRef.float(info.storeTime).take())
    dcs_tuple_set(tuple.borrowed, 4, try PyRef.int(info.size).take())
    return tuple
}

let sigInfoPage = Signature<KeysPageParam>("_info_page", required: 4)
/// ([(key, expire_time, tag, store_time, size)], last rowid) of one page of insertion order
/// (as `_keys_page`); values are never read.
let coreInfoPage: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigInfoPage.parse(args, nargs, kw)
        let cursor: Int64? = dcs_is_none(a[.cursor]!) != 0 ? nil : try intArgument(a[.cursor]!, "cursor")
        let bound = try intArgument(a[.bound]!, "bound")
        let limit = Int(try intArgument(a[.limit]!, "limit"))
        let page = try s.cache.infoPage(after: cursor, bound: bound, reverse: try a.flag(.reverse), limit: limit)
        let infos = try pyList(page.count) { try infoTuple(s, page[$0]) }
        return try .tuple(infos, try page.last.map { try .int($0.rowid) } ?? .none)
    }
}

enum KeysByTagParam: Int, Parameters { case tag }
let sigKeysByTag = Signature<KeysByTagParam>("_keys_by_tag", required: 1)
/// The keys carrying `tag`, in insertion order (None and NaN are no tag: none carries it).
let coreKeysByTag: FastCallFunction = { slf, args, nargs, kw in
    method(slf) { s in
        let a = try sigKeysByTag.parse(args, nargs, kw)
        let keys = try s.withTag(a[.tag]) { tag in try tag.map { try s.cache.keys(tagged: $0) } ?? [] }
        return try pyList(keys.count) { try s.decodeKey(keys[$0]) }
    }
}
