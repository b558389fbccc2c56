@preconcurrency import CPython
import DiskCache

/// python-diskcache's `Disk` rules in Swift: which Python objects are stored natively (exact
/// int in 64 bits, float, str, bytes) and which are pickled, for keys, values and tags.
extension CoreState {
    /// Calls `body` with the engine form of a key. Native types are borrowed without copying;
    /// anything else is pickled (and optimized, as python-diskcache does for keys).
    /// `forWriting` refuses NaN: it never equals itself, so an item under it could never be
    /// read (python-diskcache stores such rows, unreachable).
    @inline(__always)
    func withKey<R>(_ key: PyObj, forWriting: Bool = false, _ body: (KeyRef) throws -> R) throws -> R {
        if let disk = customDisk { return try withCustomKey(key, disk, forWriting: forWriting, body) }
        return try withNativeKey(key, forWriting: forWriting, body)
    }

    /// The built-in rules, whatever the Disk.
    @inline(__always)
    func withNativeKey<R>(_ key: PyObj, forWriting: Bool = false, _ body: (KeyRef) throws -> R) throws -> R {
        if dcs_unicode_exact(key) != 0 {
            var size: Py_ssize_t = 0
            guard let p = PyUnicode_AsUTF8AndSize(key, &size) else { throw PythonErrorSet() }
            return try body(KeyRef(kind: .text, bytes: UnsafeRawBufferPointer(start: p, count: size)))
        }
        if dcs_bytes_exact(key) != 0 {
            return try body(KeyRef(kind: .blob, bytes: UnsafeRawBufferPointer(start: dcs_bytes_data(key), count: dcs_bytes_size(key))))
        }
        if dcs_long_exact(key) != 0 {
            var overflow: Int32 = 0
            let v = PyLong_AsLongLongAndOverflow(key, &overflow)
            if overflow == 0 {
                if v == -1 && PyErr_Occurred() != nil { throw PythonErrorSet() }
                var le = Int64(v).littleEndian
                return try withUnsafeBytes(of: &le) { try body(KeyRef(kind: .int, bytes: $0)) }
            }
        } else if dcs_float_exact(key) != 0 {
            if forWriting && dcs_float_value(key).isNaN {
                raise(PyExc_ValueError, "key must not be NaN: NaN never equals itself, so the item could not be read back")
                throw PythonErrorSet()
            }
            var le = dcs_float_value(key).bitPattern.littleEndian
            return try withUnsafeBytes(of: &le) { try body(KeyRef(kind: .float, bytes: $0)) }
        }
        let pickled = try pickleKey(key)
        defer { dcs_decref(pickled) }
        return try body(KeyRef(kind: .pickle, bytes: UnsafeRawBufferPointer(start: dcs_bytes_data(pickled), count: dcs_bytes_size(pickled))))
    }

    func pickleKey(_ key: PyObj) throws -> PyObj {
        let data = try pickle(key)
        defer { dcs_decref(data) }
        return try check(dcs_call1(imports.optimize, data))
    }

    func pickle(_ value: PyObj) throws -> PyObj {
        try check(dcs_call2(imports.pickleDumps, value, pickleProtocol))
    }

    /// A user's Disk subclass decides: `disk.put(key)` gives `(db_key, raw)`.
    private func withCustomKey<R>(_ key: PyObj, _ disk: PyObj, forWriting: Bool, _ body: (KeyRef) throws -> R) throws -> R {
        let result = try check(PyObject_CallMethod1(disk, "put", key))
        defer { dcs_decref(result) }
        guard dcs_tuple_check(result) != 0, dcs_tuple_size(result) == 2 else {
            raise(PyExc_TypeError, "Disk.put must return (db_key, raw)")
            throw PythonErrorSet()
        }
        let dbKey = dcs_tuple_item(result, 0)!
        let raw = PyObject_IsTrue(dcs_tuple_item(result, 1))
        if raw < 0 { throw PythonErrorSet() }
        if raw == 0 {
            guard dcs_bytes_check(dbKey) != 0 else {
                raise(PyExc_TypeError, "Disk.put must return bytes when raw is False")
                throw PythonErrorSet()
            }
            return try body(KeyRef(kind: .pickle, bytes: UnsafeRawBufferPointer(start: dcs_bytes_data(dbKey), count: dcs_bytes_size(dbKey))))
        }
        return try withNativeKey(dbKey, forWriting: forWriting, body)
    }

    /// A Python key from its stored form (through a custom Disk's `get` if `throughDisk`).
    func decodeKey(_ key: StoredKey, throughDisk: Bool = true) throws -> PyObj {
        let raw: PyObj = try key.bytes.withUnsafeBytes { b in
            switch key.kind {
            case .int: return try check(PyLong_FromLongLong(Int64(littleEndian: b.loadUnaligned(as: Int64.self))))
            case .float: return try check(PyFloat_FromDouble(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(as: UInt64.self)))))
            case .text: return try check(PyUnicode_DecodeUTF8(b.baseAddress?.assumingMemoryBound(to: CChar.self) ?? emptyCString, b.count, "surrogatepass"))
            case .blob, .pickle: return try check(pyBytes(b))
            }
        }
        if throughDisk, let disk = customDisk {
            defer { dcs_decref(raw) }
            let rawFlag = key.kind == .pickle ? dcs_false() : dcs_true()
            defer { dcs_xdecref(rawFlag) }
            return try check(PyObject_CallMethod2(disk, "get", raw, rawFlag!))
        }
        if key.kind == .pickle {
            defer { dcs_decref(raw) }
            return try check(dcs_call1(imports.pickleLoads, raw))
        }
        return raw
    }

    /// Calls `body` with the engine form of a tag (nil for None). Tags are SQLite scalars:
    /// NaN is NULL (no tag), bytes-like objects are bytes.
    func withTag<R>(_ tag: PyObj?, _ body: (KeyRef?) throws -> R) throws -> R {
        guard let tag, dcs_is_none(tag) == 0 else { return try body(nil) }
        if dcs_bytearray_check(tag) != 0 || dcs_memoryview_check(tag) != 0 {
            let bytes = try check(PyBytes_FromObject(tag))
            defer { dcs_decref(bytes) }
            return try withTag(bytes, body)
        }
        if dcs_long_check(tag) != 0 {
            var overflow: Int32 = 0
            var v = Int64(PyLong_AsLongLongAndOverflow(tag, &overflow)).littleEndian
            if overflow != 0 {
                raise(PyExc_OverflowError, "Python int too large to convert to SQLite INTEGER")
                throw PythonErrorSet()
            }
            return try withUnsafeBytes(of: &v) { try body(KeyRef(kind: .int, bytes: $0)) }
        }
        if dcs_float_check(tag) != 0 {
            if PyFloat_AsDouble(tag).isNaN { return try body(nil) }
            var le = PyFloat_AsDouble(tag).bitPattern.littleEndian
            return try withUnsafeBytes(of: &le) { try body(KeyRef(kind: .float, bytes: $0)) }
        }
        if dcs_unicode_check(tag) != 0 || dcs_bytes_check(tag) != 0 {
            if dcs_unicode_check(tag) != 0 {
                var size: Py_ssize_t = 0
                guard let p = PyUnicode_AsUTF8AndSize(tag, &size) else { throw PythonErrorSet() }
                return try body(KeyRef(kind: .text, bytes: UnsafeRawBufferPointer(start: p, count: size)))
            }
            return try body(KeyRef(kind: .blob, bytes: UnsafeRawBufferPointer(start: dcs_bytes_data(tag), count: dcs_bytes_size(tag))))
        }
        let typeName = String(cString: dcs_type_name(tag))
        raise(PyExc_TypeError, "tag must be None, int, float, str or bytes (SQLite scalar), not \(typeName)")
        throw PythonErrorSet()
    }

    func decodeTag(_ kind: ItemKind?, _ bytes: UnsafeRawBufferPointer) -> PyObj? {
        guard let kind else { return dcs_none() }
        switch kind {
        // Numbers are 8 bytes; anything else (written through the Swift API with another
        // length) comes back as the bytes it is rather than being read past.
        case .int where bytes.count == 8: return PyLong_FromLongLong(Int64(littleEndian: bytes.loadUnaligned(as: Int64.self)))
        case .float where bytes.count == 8: return PyFloat_FromDouble(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))))
        case .text: return PyUnicode_DecodeUTF8(bytes.baseAddress?.assumingMemoryBound(to: CChar.self) ?? emptyCString, bytes.count, "surrogatepass")
        case .blob, .pickle, .int, .float: return pyBytes(bytes)
        }
    }

    /// Builds the Python object for a stored value inside the engine's read closure: native
    /// types at once; pickles and file handles are finished by `finishValue` outside it.
    func rawValue(_ view: ItemView) -> PyObj? {
        if !view.isMaterialized { return pyString(view.filePath ?? "") }
        let b = view.value
        switch view.kind {
        case .int where b.count == 8: return PyLong_FromLongLong(Int64(littleEndian: b.loadUnaligned(as: Int64.self)))
        case .float where b.count == 8: return PyFloat_FromDouble(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(as: UInt64.self))))
        case .text: return PyUnicode_DecodeUTF8(b.baseAddress?.assumingMemoryBound(to: CChar.self) ?? emptyCString, b.count, "surrogatepass")
        case .blob, .pickle, .int, .float: return pyBytes(b)
        }
    }

    /// Turns a raw value into the user's value (owned → owned): unpickles, opens file handles,
    /// or asks a custom Disk's `fetch`.
    func finishValue(_ raw: PyObj, kind: ItemKind, materialized: Bool, file: String?, read: Bool) throws -> PyObj {
        if let disk = customDisk {
            defer { dcs_decref(raw) }
            return try customFetch(disk, raw, kind: kind, file: file, read: read)
        }
        if !materialized {
            defer { dcs_decref(raw) }
            return try check(dcs_call2(imports.ioOpen, raw, imports.rb))
        }
        if kind == .pickle {
            defer { dcs_decref(raw) }
            return try check(dcs_call1(imports.pickleLoads, raw))
        }
        return raw
    }

    /// `disk.fetch(mode, filename, value, read)` with python-diskcache's modes.
    private func customFetch(_ disk: PyObj, _ raw: PyObj, kind: ItemKind, file: String?, read: Bool) throws -> PyObj {
        let mode: Int
        switch kind {
        case .int, .float: mode = 1
        case .text: mode = file == nil ? 1 : 3
        case .blob: mode = file == nil ? 1 : 2
        case .pickle: mode = 4
        }
        let modeObj = try check(PyLong_FromLong(mode))
        defer { dcs_decref(modeObj) }
        let nameObj: PyObj
        if let file {
            nameObj = try check(pyString(String(file.dropFirst(directory.utf8.count + 1))))
        } else {
            nameObj = dcs_none()
        }
        defer { dcs_decref(nameObj) }
        let valueObj = file == nil ? dcs_newref(raw)! : dcs_none()!
        defer { dcs_decref(valueObj) }
        let readObj = dcs_bool(read ? 1 : 0)!
        defer { dcs_decref(readObj) }
        let fetch = try check(PyObject_GetAttrString(disk, "fetch"))
        defer { dcs_decref(fetch) }
        return try check(dcs_call4(fetch, modeObj, nameObj, valueObj, readObj))
    }
}

func PyObject_CallMethod1(_ o: PyObj, _ name: String, _ a: PyObj) -> PyObj? {
    guard let m = PyObject_GetAttrString(o, name) else { return nil }
    defer { dcs_decref(m) }
    return dcs_call1(m, a)
}

func PyObject_CallMethod2(_ o: PyObj, _ name: String, _ a: PyObj, _ b: PyObj) -> PyObj? {
    guard let m = PyObject_GetAttrString(o, name) else { return nil }
    defer { dcs_decref(m) }
    return dcs_call2(m, a, b)
}
