@preconcurrency import CPython
import DiskCache

/// `CacheCore.__init__(directory, settings, network, lease, timeout, read_only)`: opens the
/// engine on `directory`, persisting `settings` (a dict of name → int/float/str); read-only
/// writes nothing (see `DiskCache.isReadOnly`).
let coreInit: @convention(c) (PyObj?, PyObj?, PyObj?) -> Int32 = { slf, args, kwargs in
    do {
        guard let slf, let args, (2...6).contains(dcs_tuple_size(args)), dcs_unicode_check(dcs_tuple_item(args, 0)) != 0 else {
            throw pythonError(PyExc_TypeError, "CacheCore(directory: str, settings: dict, network: bool | None = None, lease: float = 30, timeout: float | None = None, read_only: bool = False)")
        }
        var readOnly = false
        if dcs_tuple_size(args) >= 6 {
            let truth = PyObject_IsTrue(dcs_tuple_item(args, 5))
            if truth < 0 { throw PythonErrorSet() }
            readOnly = truth == 1
        }
        // network: None detects the filesystem, True/False force the mode.
        var network: Bool? = nil
        if dcs_tuple_size(args) >= 3, let n = dcs_tuple_item(args, 2), dcs_is_none(n) == 0 {
            let truth = PyObject_IsTrue(n)
            if truth < 0 { throw PythonErrorSet() }
            network = truth == 1
        }
        var lease = 30.0
        if dcs_tuple_size(args) >= 4, let l = dcs_tuple_item(args, 3), dcs_is_none(l) == 0 {
            lease = PyFloat_AsDouble(l)
            if lease == -1 && PyErr_Occurred() != nil { throw PythonErrorSet() }
            guard lease > 0 else { throw pythonError(PyExc_ValueError, "network_lease must be positive") }
        }
        // timeout: the lock wait's limit, opening included (None: no limit).
        var timeout: Double? = nil
        if dcs_tuple_size(args) >= 5, let t = dcs_tuple_item(args, 4), dcs_is_none(t) == 0 {
            let d = PyFloat_AsDouble(t)
            if d == -1 && PyErr_Occurred() != nil { throw PythonErrorSet() }
            timeout = d
        }
        let directory = try stringArgument(dcs_tuple_item(args, 0)!, "directory")
        let settingsObj = dcs_tuple_item(args, 1)!
        var settings: [String: SettingValue] = [:]
        if dcs_dict_check(settingsObj) != 0 {
            var pos: Py_ssize_t = 0
            var k: PyObj?
            var v: PyObj?
            while PyDict_Next(settingsObj, &pos, &k, &v) != 0 {
                guard let k, let v else { throw PythonErrorSet() }
                settings[try stringArgument(k, "setting name")] = try settingValue(v)
            }
        }
        // python-diskcache keeps every setting it is given and reopens after close().
        let cache = try DiskCache(directory: directory, settings: settings, network: network, lease: .seconds(lease), timeout: timeout.map { .seconds($0) }, leniency: .pythonDiskcache, readOnly: readOnly)
        if let old = dcs_get_core(slf) { Unmanaged<CoreState>.fromOpaque(old).release() }
        dcs_set_core(slf, Unmanaged.passRetained(CoreState(cache: cache, directory: directory)).toOpaque())
        return 0
    } catch {
        raiseEngineError(error)
        return -1
    }
}

let coreDealloc: @convention(c) (PyObj?) -> Void = { slf in
    guard let slf else { return }
    let type = Py_TYPE(slf)!
    if let p = dcs_get_core(slf) {
        dcs_set_core(slf, nil)
        Unmanaged<CoreState>.fromOpaque(p).release()
    }
    let free = unsafeBitCast(PyType_GetSlot(type, Py_tp_free), to: (@convention(c) (UnsafeMutableRawPointer?) -> Void).self)
    free(UnsafeMutableRawPointer(slf))
    // A heap type's instances hold a reference to it (taken by PyType_GenericAlloc).
    dcs_decref(UnsafeMutableRawPointer(type).assumingMemoryBound(to: PyObject.self))
}

/// A method table entry (name and docstring live for the process).
func fastMethod(_ name: String, _ f: FastCallFunction, _ doc: String) -> PyMethodDef {
    PyMethodDef(ml_name: UnsafePointer(strdup(name)), ml_meth: unsafeBitCast(f, to: PyCFunction.self),
                ml_flags: METH_FASTCALL | METH_KEYWORDS, ml_doc: UnsafePointer(strdup(doc)))
}

func makeMethods() -> UnsafeMutablePointer<PyMethodDef> {
    let defs: [PyMethodDef] = [
        fastMethod("get", cacheGet, "Retrieve value from cache. If `key` is missing, return `default`."),
        fastMethod("set", cacheSet, "Set `key` and `value` item in cache."),
        fastMethod("add", cacheAdd, "Add `key` and `value` item to cache if not present."),
        fastMethod("delete", cacheDelete, "Delete corresponding item for `key` from cache."),
        fastMethod("_delitem", cacheDelItemMethod, "Delete corresponding item for `key` from cache (__delitem__)."),
        fastMethod("pop", cachePop, "Remove corresponding item for `key` from cache and return value."),
        fastMethod("incr", cacheIncr, "Increment value by delta for item with key."),
        fastMethod("decr", cacheDecr, "Decrement value by delta for item with key."),
        fastMethod("touch", cacheTouch, "Touch `key` in cache and update `expire` time."),
        fastMethod("read", cacheRead, "Return file handle value corresponding to `key` from cache."),
        fastMethod("push", cachePush, "Push `value` onto `side` of queue identified by `prefix` in cache."),
        fastMethod("pull", cachePull, "Pull key and value item pair from `side` of queue in cache."),
        fastMethod("peek", cachePeek, "Peek at key and value item pair from `side` of queue in cache."),
        fastMethod("peekitem", cachePeekItem, "Peek at key and value item pair in cache based on iteration order."),
        fastMethod("_keys_page", coreKeysPage, "(keys, last rowid) of one page of insertion order."),
        fastMethod("_rowid_bounds", coreRowidBounds, "(first rowid, last rowid) or None."),
        fastMethod("_sorted_keys", coreSortedKeys, "All keys in key order."),
        fastMethod("_expire", coreExpire, "Remove expired items."),
        fastMethod("_evict", coreEvict, "Remove items with a tag."),
        fastMethod("_clear", coreClear, "Remove all items."),
        fastMethod("_cull", coreCull, "Cull by policy."),
        fastMethod("_volume", coreVolume, "Bytes used."),
        fastMethod("_stats", coreStats, "(hits, misses)."),
        fastMethod("_reset_stats", coreResetStats, "Zero the statistics."),
        fastMethod("_settings", coreSettings, "Persisted settings over the engine's defaults."),
        fastMethod("_update_setting", coreUpdateSetting, "Persist one setting."),
        fastMethod("_configure", coreConfigure, "Disk parameters and lock timeout."),
        fastMethod("_check", coreCheck, "Verify and optionally repair."),
        fastMethod("_begin", coreBegin, "Open a transaction."),
        fastMethod("_end", coreEnd, "Close a transaction (commit or roll back)."),
        fastMethod("_close", coreClose, "Release files; the next call reopens."),
        fastMethod("_compact", coreCompact, "Rewrite the log without dead records."),
        fastMethod("_network_mode", coreNetworkMode, "Whether processes coordinate in network-filesystem mode."),
        // Batches and listing (CacheCore+Batches.swift).
        fastMethod("get_many", cacheGetMany, "Retrieve the values of many keys in one read: a dict of the keys present."),
        fastMethod("set_many", cacheSetMany, "Set many (key, value) items in one write, all or none. Returns the count stored."),
        fastMethod("delete_many", cacheDeleteMany, "Delete many keys in one write. Returns the count that were present."),
        fastMethod("_live_keys", coreLiveKeys, "Keys of the live items in insertion order."),
        fastMethod("_live_items", coreLiveItems, "(key, value) of the live items in insertion order."),
        fastMethod("_info_page", coreInfoPage, "(item metadata, last rowid) of one page of insertion order."),
        fastMethod("_keys_by_tag", coreKeysByTag, "Keys carrying a tag, in insertion order."),
    ]
    let table = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: defs.count + 1)
    for (i, d) in defs.enumerated() { table[i] = d }
    table[defs.count] = PyMethodDef(ml_name: nil, ml_meth: nil, ml_flags: 0, ml_doc: nil)
    return table
}

func makeCoreType() -> PyObj? {
    var slots: [PyType_Slot] = [
        PyType_Slot(slot: Py_tp_init, pfunc: unsafeBitCast(coreInit, to: UnsafeMutableRawPointer.self)),
        PyType_Slot(slot: Py_tp_new, pfunc: unsafeBitCast(PyType_GenericNew as @convention(c) (UnsafeMutablePointer<PyTypeObject>?, PyObj?, PyObj?) -> PyObj?, to: UnsafeMutableRawPointer.self)),
        PyType_Slot(slot: Py_tp_dealloc, pfunc: unsafeBitCast(coreDealloc, to: UnsafeMutableRawPointer.self)),
        PyType_Slot(slot: Py_tp_methods, pfunc: UnsafeMutableRawPointer(makeMethods())),
        PyType_Slot(slot: Py_mp_subscript, pfunc: unsafeBitCast(cacheGetItem, to: UnsafeMutableRawPointer.self)),
        PyType_Slot(slot: Py_mp_ass_subscript, pfunc: unsafeBitCast(cacheSetItem, to: UnsafeMutableRawPointer.self)),
        PyType_Slot(slot: Py_mp_length, pfunc: unsafeBitCast(cacheLength, to: UnsafeMutableRawPointer.self)),
        PyType_Slot(slot: Py_sq_contains, pfunc: unsafeBitCast(cacheContains, to: UnsafeMutableRawPointer.self)),
        PyType_Slot(slot: 0, pfunc: nil),
    ]
    return slots.withUnsafeMutableBufferPointer { buf -> PyObj? in
        var spec = PyType_Spec(name: strdup("diskcache_swift._engine.CacheCore"), basicsize: Int32(dcs_object_size()), itemsize: 0,
                               flags: UInt32(dcs_type_flags()), slots: buf.baseAddress)
        return PyType_FromSpec(&spec)
    }
}

/// Python-side classes the extension raises: `_setup(Timeout, ReadOnlyError)` after import.
/// Kept for the life of the process.
let moduleSetup: @convention(c) (PyObj?, PyObj?) -> PyObj? = { _, args in
    guard let args, dcs_tuple_size(args) == 2 else {
        pythonError(PyExc_TypeError, "_setup(Timeout, ReadOnlyError)")
        return nil
    }
    if imports.timeout == nil { imports.timeout = PyRef(borrowing: dcs_tuple_item(args, 0)!).take() }
    if imports.readOnly == nil { imports.readOnly = PyRef(borrowing: dcs_tuple_item(args, 1)!).take() }
    return PyRef.none.take()
}

/// `_engine.attempt(fn, *args, **kwargs)`: calls `fn` in the engine's "attempt without
/// waiting" mode on this thread (`DiskCache.withoutWaiting`). Returns `(True, result)`, or
/// `(False, None)` when an engine call inside would have waited (for another thread's or
/// process's lock, a value file, network I/O ...): it had no effect, and the caller makes the
/// call again where waiting is allowed (the asyncio methods: off the event loop). Any other
/// exception propagates.
let moduleAttempt: FastCallFunction = { _, args, nargs, kwnames in
    guard let args, nargs >= 1, let fn = args[0] else {
        pythonError(PyExc_TypeError, "attempt(fn, *args, **kwargs) takes the callable first")
        return nil
    }
    let result = DiskCache.withoutWaiting { dcs_vectorcall(fn, args + 1, nargs - 1, kwnames) }
    return returning {
        guard let result else {
            guard let wouldBlock = imports.wouldBlock, PyErr_ExceptionMatches(wouldBlock) != 0 else { throw PythonErrorSet() }
            PyErr_Clear()
            return try .tuple(try PyRef(new: PyBool_FromLong(0)), .none)
        }
        return try .tuple(try PyRef(new: PyBool_FromLong(1)), try PyRef(new: result))
    }
}

/// `_fast_slots(cls)`: after `class Cache(CacheCore)` sets `__delitem__ = CacheCore._delitem`
/// (so explicit calls return True and take `retry`, as python-diskcache's do), restore the
/// direct C path for `cache[key] = value` and `del cache[key]`.
let moduleFastSlots: @convention(c) (PyObj?, PyObj?) -> PyObj? = { _, cls in
    guard let cls, dcs_set_ass_subscript(cls, cacheSetItem) == 0 else {
        pythonError(PyExc_TypeError, "_fast_slots expects a subclass of CacheCore")
        return nil
    }
    return PyRef.none.take()
}

@_cdecl("PyInit__engine")
public func PyInit__engine() -> UnsafeMutablePointer<PyObject>? {
    do {
        // Looked up once and kept for the life of the process.
        imports = Imports(
            pickleDumps: try PyRef.attribute("pickle", "dumps").take(),
            pickleLoads: try PyRef.attribute("pickle", "loads").take(),
            optimize: try PyRef.attribute("pickletools", "optimize").take(),
            ioOpen: try PyRef.attribute("io", "open").take(),
            timeout: nil,
            readOnly: nil,
            wouldBlock: nil,
            rb: try PyRef.string("rb").take()
        )
    } catch {
        return nil
    }
    // Waiting for another thread's lock must not hold the GIL that thread may need.
    Blocking.willWait = { dcs_gil_held() != 0 ? dcs_save_thread() : nil }
    Blocking.didWait = { token in if let token { dcs_restore_thread(token) } }

    let functions = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 6)
    functions[0] = PyMethodDef(ml_name: UnsafePointer(strdup("_setup")), ml_meth: unsafeBitCast(moduleSetup, to: PyCFunction.self), ml_flags: METH_VARARGS, ml_doc: nil)
    functions[1] = PyMethodDef(ml_name: UnsafePointer(strdup("_fast_slots")), ml_meth: unsafeBitCast(moduleFastSlots, to: PyCFunction.self), ml_flags: METH_O, ml_doc: nil)
    functions[2] = PyMethodDef(ml_name: UnsafePointer(strdup("_pairs")), ml_meth: unsafeBitCast(modulePairs, to: PyCFunction.self), ml_flags: METH_FASTCALL | METH_KEYWORDS, ml_doc: nil)
    functions[3] = PyMethodDef(ml_name: UnsafePointer(strdup("_iterable")), ml_meth: unsafeBitCast(moduleIterable, to: PyCFunction.self), ml_flags: METH_FASTCALL | METH_KEYWORDS, ml_doc: nil)
    functions[4] = fastMethod("attempt", moduleAttempt, "attempt(fn, *args, **kwargs) -> (done, result): fn called without letting the engine wait; (False, None) if it would have.")
    functions[5] = PyMethodDef(ml_name: nil, ml_meth: nil, ml_flags: 0, ml_doc: nil)
    do {
        let module = try PyRef(new: PyModule_Create2(dcs_new_module_def("diskcache_swift._engine", functions), PYTHON_API_VERSION))
        let type = try PyRef(new: makeCoreType())
        // PyModule_AddObjectRef leaves the caller's reference to the caller.
        if PyModule_AddObjectRef(module.borrowed, "CacheCore", type.borrowed) < 0 { throw PythonErrorSet() }
        let wouldBlock = try PyRef(new: PyErr_NewException("diskcache_swift._engine.WouldBlock", PyExc_BaseException, nil))
        if PyModule_AddObjectRef(module.borrowed, "WouldBlock", wouldBlock.borrowed) < 0 { throw PythonErrorSet() }
        imports.wouldBlock = wouldBlock.take()
        return module.take()
    } catch {
        return nil
    }
}
