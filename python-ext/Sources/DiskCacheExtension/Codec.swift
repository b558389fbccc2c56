@preconcurrency import CPython
import DiskCache

/// A stored scalar (value or tag) copied out of an engine closure. Engine closures make Swift
/// values only: an error the engine throws after the closure returned (an access record that
/// times out, a commit that fails) then leaves nothing to release. Python objects are made
/// from these once the engine has returned.
enum Copied {
    case int(Int64)
    case float(Double)
    case text([UInt8])
    case blob([UInt8])
    case pickle([UInt8])

    @inline(__always)
    init(_ kind: ItemKind, _ b: UnsafeRawBufferPointer) {
        switch kind {
        case .int where b.count == 8: self = .int(Int64(littleEndian: b.loadUnaligned(as: Int64.self)))
        case .float where b.count == 8: self = .float(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(as: UInt64.self))))
        case .text: self = .text(Array(b))
        case .pickle: self = .pickle(Array(b))
        // Numbers are 8 bytes; anything else (written through the Swift API with another
        // length) comes back as the bytes it is rather than being read past.
        case .blob, .int, .float: self = .blob(Array(b))
        }
    }

    /// As `init(_:_:)`, the bytes copied into `buffer` (kept by the caller for the next call:
    /// no allocation once it is large enough; shared, it is copied on write).
    @inline(__always)
    init(_ kind: ItemKind, _ b: UnsafeRawBufferPointer, reusing buffer: inout [UInt8]) {
        if (kind == .int || kind == .float) && b.count == 8 {
            self.init(kind, b)
            return
        }
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: b)
        switch kind {
        case .text: self = .text(buffer)
        case .pickle: self = .pickle(buffer)
        case .blob, .int, .float: self = .blob(buffer)
        }
    }

    /// The Python object as stored: a number, str, or bytes (a pickle's bytes are not loaded
    /// here: tags are never unpickled, values are by `CoreState.value(of:read:)`).
    func object() throws -> PyRef {
        switch self {
        case .int(let v): return try .int(v)
        case .float(let d): return try PyRef(new: PyFloat_FromDouble(d))
        case .text(let b): return try PyRef(new: b.withUnsafeBytes(newText))
        case .blob(let b), .pickle(let b): return try PyRef(new: b.withUnsafeBytes(newBytes))
        }
    }
}

/// A live item copied out of an engine closure (see `Copied`). Filled in place through a
/// captured variable: a closure result as large as this would be copied through the engine's
/// unspecialised generic code.
struct CopiedItem {
    var kind = ItemKind.blob
    /// The value, when the engine read it; nil when it is in a file left unread.
    var value: Copied?
    /// The value file's path when the value lives in a file.
    var filePath: String?
    /// The engine's view of an unread value file, for `DiskCache.readValueFile`: only its
    /// file fields are used once the closure has returned (its buffers are gone).
    var unreadFile: ItemView?
    var expire: Double?
    /// nil: no tag (or not asked for).
    var tag: Copied?

    init() {}

    @inline(__always)
    init(_ view: ItemView, tag wantTag: Bool = true) {
        fill(view, tag: wantTag)
    }

    @inline(__always)
    mutating func fill(_ view: ItemView, tag wantTag: Bool) {
        var buffer: [UInt8] = []
        fill(view, tag: wantTag, buffer: &buffer)
    }

    @inline(__always)
    mutating func fill(_ view: ItemView, tag wantTag: Bool, buffer: inout [UInt8]) {
        kind = view.kind
        expire = view.expireTime
        filePath = view.filePath
        if view.isMaterialized {
            value = Copied(view.kind, view.value, reusing: &buffer)
        } else {
            unreadFile = view
        }
        if wantTag, let tagKind = view.tagKind { tag = Copied(tagKind, view.tag) }
    }

    /// The tag as a Python object (None for no tag).
    func tagObject() throws -> PyRef {
        guard let tag else { return .none }
        return try tag.object()
    }
}

/// python-diskcache's `Disk` rules in Swift: which Python objects are stored natively (exact
/// int in 64 bits, float, str, bytes) and which are pickled, for keys, values and tags.
extension CoreState {
    /// Calls `body` with the engine form of a key. Native types are borrowed without copying;
    /// anything else is pickled (and optimized, as python-diskcache does for keys).
    /// `forWriting` refuses NaN: it never equals itself, so an item under it could never be
    /// read (python-diskcache stores such rows, unreachable).
    @inline(__always)
    func withKey<R>(_ key: PyObj, forWriting: Bool = false, _ body: (KeyRef) throws -> R) throws -> R {
        if let disk = customDisk {
            // Held: the Disk's Python code may reconfigure the cache meanwhile.
            let held = PyRef(borrowing: disk)
            return try withCustomKey(key, held.borrowed, forWriting: forWriting, body)
        }
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
                throw pythonError(PyExc_ValueError, "key must not be NaN: NaN never equals itself, so the item could not be read back")
            }
            var le = dcs_float_value(key).bitPattern.littleEndian
            return try withUnsafeBytes(of: &le) { try body(KeyRef(kind: .float, bytes: $0)) }
        }
        let pickled = try pickleKey(key)
        return try body(KeyRef(kind: .pickle, bytes: UnsafeRawBufferPointer(start: dcs_bytes_data(pickled.borrowed), count: dcs_bytes_size(pickled.borrowed))))
    }

    func pickleKey(_ key: PyObj) throws -> PyRef {
        let data = try pickle(key)
        return try .call(imports.optimize, data.borrowed)
    }

    func pickle(_ value: PyObj) throws -> PyRef {
        let proto = PyRef(borrowing: pickleProtocol)
        return try .call(imports.pickleDumps, value, proto.borrowed)
    }

    /// A user's Disk subclass decides: `disk.put(key)` gives `(db_key, raw)`.
    private func withCustomKey<R>(_ key: PyObj, _ disk: PyObj, forWriting: Bool, _ body: (KeyRef) throws -> R) throws -> R {
        let result = try PyRef.callMethod(disk, "put", key)
        guard dcs_tuple_check(result.borrowed) != 0, dcs_tuple_size(result.borrowed) == 2 else {
            throw pythonError(PyExc_TypeError, "Disk.put must return (db_key, raw), not \(reprText(result.borrowed))")
        }
        let dbKey = dcs_tuple_item(result.borrowed, 0)!
        let raw = PyObject_IsTrue(dcs_tuple_item(result.borrowed, 1))
        if raw < 0 { throw PythonErrorSet() }
        if raw == 0 {
            guard dcs_bytes_check(dbKey) != 0 else {
                throw pythonError(PyExc_TypeError, "Disk.put must return bytes when raw is False")
            }
            return try body(KeyRef(kind: .pickle, bytes: UnsafeRawBufferPointer(start: dcs_bytes_data(dbKey), count: dcs_bytes_size(dbKey))))
        }
        return try withNativeKey(dbKey, forWriting: forWriting, body)
    }

    /// A Python key from its stored form (through a custom Disk's `get` if `throughDisk`).
    func decodeKey(_ key: StoredKey, throughDisk: Bool = true) throws -> PyRef {
        let raw = try key.bytes.withUnsafeBytes { Copied(key.kind, $0) }.object()
        if throughDisk, let customDisk {
            let disk = PyRef(borrowing: customDisk)
            return try .callMethod(disk.borrowed, "get", raw.borrowed, key.kind == .pickle ? dcs_py_false() : dcs_py_true())
        }
        if key.kind == .pickle { return try .call(imports.pickleLoads, raw.borrowed) }
        return raw
    }

    /// Calls `body` with the engine form of a tag (nil for None). Tags are SQLite scalars:
    /// NaN is NULL (no tag), bytes-like objects are bytes.
    func withTag<R>(_ tag: PyObj?, _ body: (KeyRef?) throws -> R) throws -> R {
        guard let tag, dcs_is_none(tag) == 0 else { return try body(nil) }
        if dcs_bytearray_check(tag) != 0 || dcs_memoryview_check(tag) != 0 {
            let bytes = try PyRef(new: PyBytes_FromObject(tag))
            return try withTag(bytes.borrowed, body)
        }
        if dcs_long_check(tag) != 0 {
            var overflow: Int32 = 0
            var v = Int64(PyLong_AsLongLongAndOverflow(tag, &overflow)).littleEndian
            if overflow != 0 {
                throw pythonError(PyExc_OverflowError, "Python int too large to convert to SQLite INTEGER")
            }
            return try withUnsafeBytes(of: &v) { try body(KeyRef(kind: .int, bytes: $0)) }
        }
        if dcs_float_check(tag) != 0 {
            if PyFloat_AsDouble(tag).isNaN { return try body(nil) }
            var le = PyFloat_AsDouble(tag).bitPattern.littleEndian
            return try withUnsafeBytes(of: &le) { try body(KeyRef(kind: .float, bytes: $0)) }
        }
        if dcs_unicode_check(tag) != 0 {
            var size: Py_ssize_t = 0
            guard let p = PyUnicode_AsUTF8AndSize(tag, &size) else { throw PythonErrorSet() }
            return try body(KeyRef(kind: .text, bytes: UnsafeRawBufferPointer(start: p, count: size)))
        }
        if dcs_bytes_check(tag) != 0 {
            return try body(KeyRef(kind: .blob, bytes: UnsafeRawBufferPointer(start: dcs_bytes_data(tag), count: dcs_bytes_size(tag))))
        }
        throw pythonError(PyExc_TypeError, "tag must be None, int, float, str or bytes (SQLite scalar), not \(typeName(tag))")
    }

    /// The user's value from a copied item: unpickled, a file handle opened (`read`), a value
    /// file read, or a custom Disk's `fetch`. Nil when the value file vanished under the
    /// reader (python-diskcache reads that as a miss).
    func value(of item: CopiedItem, read: Bool) throws -> PyRef? {
        if let customDisk {
            let held = PyRef(borrowing: customDisk)
            let disk = held.borrowed
            // A value the engine read (the file may be gone with the item) goes as bytes.
            guard let value = item.value else { return try customFetch(disk, nil, kind: item.kind, file: item.filePath, read: read) }
            return try customFetch(disk, try value.object(), kind: item.kind, file: nil, read: read)
        }
        if let value = item.value {
            let object = try value.object()
            if case .pickle = value { return try .call(imports.pickleLoads, object.borrowed) }
            return object
        }
        guard let view = item.unreadFile, let path = item.filePath else { return nil }
        if read && item.kind == .blob {
            let name = try PyRef.string(path)
            return try .call(imports.ioOpen, name.borrowed, imports.rb)
        }
        // Straight from the file into the bytes object.
        let size = Int(view.fileSize)
        let bytes = try PyRef(new: PyBytes_FromStringAndSize(nil, size))
        guard DiskCache.readValueFile(view, into: UnsafeMutableRawBufferPointer(start: dcs_bytes_data(bytes.borrowed), count: size)) else {
            return nil
        }
        switch item.kind {
        case .text: return try PyRef(new: PyUnicode_DecodeUTF8(dcs_bytes_data(bytes.borrowed), size, "surrogatepass"))
        case .pickle: return try .call(imports.pickleLoads, bytes.borrowed)
        default: return bytes
        }
    }

    /// `disk.fetch(mode, filename, value, read)` with python-diskcache's modes.
    private func customFetch(_ disk: PyObj, _ raw: consuming PyRef?, kind: ItemKind, file: String?, read: Bool) throws -> PyRef {
        let mode: Int
        switch kind {
        case .int, .float: mode = 1
        case .text: mode = file == nil ? 1 : 3
        case .blob: mode = file == nil ? 1 : 2
        case .pickle: mode = 4
        }
        let modeObj = try PyRef.int(mode)
        let nameObj: PyRef = try file.map { try .string(String($0.dropFirst(directory.utf8.count + 1))) } ?? .none
        let valueObj: PyRef = raw.take() ?? .none
        let fetch = try PyRef(new: PyObject_GetAttrString(disk, "fetch"))
        return try PyRef(new: dcs_call4(fetch.borrowed, modeObj.borrowed, nameObj.borrowed, valueObj.borrowed, read ? dcs_py_true() : dcs_py_false()))
    }
}
