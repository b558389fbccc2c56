@preconcurrency import CPython
import DiskCache

/// `CacheCore.__init__(directory, settings)`: opens the engine on `directory`, persisting
/// `settings` (a dict of name → int/float/str).
let coreInit: @convention(c) (PyObj?, PyObj?, PyObj?) -> Int32 = { slf, args, kwargs in
    do {
        guard let slf, let args, (2...5).contains(dcs_tuple_size(args)), dcs_unicode_check(dcs_tuple_item(args, 0)) != 0 else {
            throw pythonError(PyExc_TypeError, "CacheCore(directory: str, settings: dict, network: bool | None = None, lease: float = 30, timeout: float | None = None)")
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
        let cache = try DiskCache(directory: directory, settings: settings, network: network, lease: .seconds(lease), timeout: timeout.map { .seconds($0) }, leniency: .pythonDiskcache)
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

/// Python-side objects the extension raises or calls: `_setup(Timeout)` after import. Kept
/// for the life of the process.
let moduleSetup: @convention(c) (PyObj?, PyObj?) -> PyObj? = { _, timeout in
    if let timeout, imports.timeout == nil {
        imports.timeout = PyRef(borrowing: timeout).take()
    }
    return PyRef.none.take()
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
            rb: try PyRef.string("rb").take()
        )
    } catch {
        return nil
    }
    // Waiting for another thread's lock must not hold the GIL that thread may need.
    Blocking.willWait = { dcs_gil_held() != 0 ? dcs_save_thread() : nil }
    Blocking.didWait = { token in if let token { dcs_restore_thread(token) } }

    let functions = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 3)
    functions[0] = PyMethodDef(ml_name: UnsafePointer(strdup("_setup")), ml_meth: unsafeBitCast(moduleSetup, to: PyCFunction.self), ml_flags: METH_O, ml_doc: nil)
    functions[1] = PyMethodDef(ml_name: UnsafePointer(strdup("_fast_slots")), ml_meth: unsafeBitCast(moduleFastSlots, to: PyCFunction.self), ml_flags: METH_O, ml_doc: nil)
    functions[2] = PyMethodDef(ml_name: nil, ml_meth: nil, ml_flags: 0, ml_doc: nil)
    do {
        let module = try PyRef(new: PyModule_Create2(dcs_new_module_def("diskcache_swift._engine", functions), PYTHON_API_VERSION))
        let type = try PyRef(new: makeCoreType())
        // PyModule_AddObjectRef leaves the caller's reference to the caller.
        if PyModule_AddObjectRef(module.borrowed, "CacheCore", type.borrowed) < 0 { throw PythonErrorSet() }
        return module.take()
    } catch {
        return nil
    }
}
