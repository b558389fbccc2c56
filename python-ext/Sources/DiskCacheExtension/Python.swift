@preconcurrency import CPython

/// A borrowed Python object pointer: valid while its owner (a `PyRef`, an argument of the
/// call, a container) lives. Owned references are `PyRef`s.
typealias PyObj = UnsafeMutablePointer<PyObject>
typealias FastCallFunction = @convention(c) (PyObj?, UnsafePointer<PyObj?>?, Py_ssize_t, PyObj?) -> PyObj?

/// A Python exception is already set; unwind to the method boundary and return NULL.
struct PythonErrorSet: Error {}

/// An owned (strong) Python reference that releases itself: when it goes out of scope on any
/// path, returned from or thrown through, its reference is given back. Non-copyable, so
/// exactly one owner releases it; a reference handed on to Python (a method's result, a
/// tuple slot) leaves through `take()`.
struct PyRef: ~Copyable {
    private let object: PyObj

    /// Takes over a new reference.
    @inline(__always)
    init(owned object: PyObj) { self.object = object }

    /// Takes over the new reference a C API call returned; NULL (a Python exception is set)
    /// throws.
    @inline(__always)
    init(new object: PyObj?) throws {
        guard let object else { throw PythonErrorSet() }
        self.object = object
    }

    /// A reference of its own to a borrowed object.
    @inline(__always)
    init(borrowing object: PyObj) {
        dcs_incref(object)
        self.object = object
    }

    static var none: PyRef { PyRef(borrowing: dcs_py_none()) }
    static func bool(_ b: Bool) -> PyRef { PyRef(borrowing: b ? dcs_py_true() : dcs_py_false()) }

    /// The object, borrowed for as long as this value lives. Only from a named value: a
    /// temporary's lifetime may end right after this is read (`try f().borrowed` dangles).
    var borrowed: PyObj {
        @inline(__always) get { object }
    }

    /// Hands the reference over (to return it to Python, or to a slot that steals it).
    @inline(__always)
    consuming func take() -> PyObj {
        let o = object
        discard self
        return o
    }

    deinit { dcs_decref(object) }
}

/// A new bytes object (NULL with an exception set on failure): for closures, which cannot
/// return a `PyRef`.
@inline(__always)
func newBytes(_ b: UnsafeRawBufferPointer) -> PyObj? {
    PyBytes_FromStringAndSize(b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count)
}

/// A new str from UTF-8, surrogates kept (as python-diskcache's SQLite round trip keeps them).
@inline(__always)
func newText(_ b: UnsafeRawBufferPointer) -> PyObj? {
    PyUnicode_DecodeUTF8(b.baseAddress?.assumingMemoryBound(to: CChar.self) ?? emptyCString, b.count, "surrogatepass")
}

/// Runs a method body whose result is handed to Python: a thrown error is turned into the
/// Python exception (see `raiseEngineError`) and NULL.
@inline(__always)
func returning(_ body: () throws -> PyRef) -> PyObj? {
    do {
        return try body().take()
    } catch {
        raiseEngineError(error)
        return nil
    }
}

/// Objects the extension needs from Python modules, looked up once at import and kept for
/// the life of the process (never released, so borrowed pointers).
struct Imports: @unchecked Sendable {
    var pickleDumps: PyObj
    var pickleLoads: PyObj
    var optimize: PyObj
    var ioOpen: PyObj
    var timeout: PyObj?
    /// `diskcache_swift.ReadOnlyError` (an OSError subclass), raised for `.readOnly`.
    var readOnly: PyObj?
    /// `_engine.WouldBlock` (a BaseException, so no `except Exception` on the way swallows
    /// it): an engine call refused to wait inside `attempt`, which catches it.
    var wouldBlock: PyObj?
    var rb: PyObj
}

nonisolated(unsafe) var imports: Imports!

extension PyRef {
    /// `module.name`.
    static func attribute(_ module: String, _ name: String) throws -> PyRef {
        let m = try PyRef(new: PyImport_ImportModule(module))
        return try PyRef(new: PyObject_GetAttrString(m.borrowed, name))
    }

    /// str from Swift text.
    static func string(_ s: String) throws -> PyRef {
        var s = s
        return try PyRef(new: s.withUTF8 { PyUnicode_DecodeUTF8(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count, nil) })
    }

    /// bytes from a buffer.
    @inline(__always)
    static func bytes(_ b: UnsafeRawBufferPointer) throws -> PyRef { try PyRef(new: newBytes(b)) }

    /// str from UTF-8, surrogates kept (as python-diskcache's SQLite round trip keeps them).
    @inline(__always)
    static func text(_ b: UnsafeRawBufferPointer) throws -> PyRef { try PyRef(new: newText(b)) }

    static func int(_ v: Int64) throws -> PyRef { try PyRef(new: PyLong_FromLongLong(v)) }
    static func int(_ v: Int) throws -> PyRef { try PyRef(new: PyLong_FromLong(v)) }

    /// A float, or None for nil.
    static func float(_ d: Double?) throws -> PyRef {
        guard let d else { return .none }
        return try PyRef(new: PyFloat_FromDouble(d))
    }

    /// A tuple of the given references (each handed to the tuple).
    static func tuple(_ a: consuming PyRef, _ b: consuming PyRef) throws -> PyRef {
        let t = try PyRef(new: PyTuple_New(2))
        dcs_tuple_set(t.borrowed, 0, a.take())
        dcs_tuple_set(t.borrowed, 1, b.take())
        return t
    }

    static func tuple(_ a: consuming PyRef, _ b: consuming PyRef, _ c: consuming PyRef) throws -> PyRef {
        let t = try PyRef(new: PyTuple_New(3))
        dcs_tuple_set(t.borrowed, 0, a.take())
        dcs_tuple_set(t.borrowed, 1, b.take())
        dcs_tuple_set(t.borrowed, 2, c.take())
        return t
    }

    /// `f(a)`, `f(a, b)` with borrowed arguments.
    static func call(_ f: PyObj, _ a: PyObj) throws -> PyRef { try PyRef(new: dcs_call1(f, a)) }
    static func call(_ f: PyObj, _ a: PyObj, _ b: PyObj) throws -> PyRef { try PyRef(new: dcs_call2(f, a, b)) }
    static func callMethod(_ o: PyObj, _ name: String, _ a: PyObj) throws -> PyRef {
        let m = try PyRef(new: PyObject_GetAttrString(o, name))
        return try call(m.borrowed, a)
    }
    static func callMethod(_ o: PyObj, _ name: String, _ a: PyObj, _ b: PyObj) throws -> PyRef {
        let m = try PyRef(new: PyObject_GetAttrString(o, name))
        return try call(m.borrowed, a, b)
    }
}

/// Sets `message` as the pending exception of class `type` (borrowed) and returns the
/// error that unwinds to the method boundary: `throw pythonError(PyExc_TypeError, "...")`.
@discardableResult
func pythonError(_ type: PyObj?, _ message: String) -> PythonErrorSet {
    _ = message.withCString { dcs_raise(type, $0) }
    return PythonErrorSet()
}

/// `repr(o)` for an error message.
func reprText(_ o: PyObj) -> String {
    guard let r = try? PyRef(new: PyObject_Repr(o)), let p = PyUnicode_AsUTF8(r.borrowed) else {
        PyErr_Clear()
        return "<\(String(cString: dcs_type_name(o)))>"
    }
    return String(cString: p)
}

/// `str(o)` for an error message.
func strText(_ o: PyObj) -> String {
    guard let r = try? PyRef(new: PyObject_Str(o)), let p = PyUnicode_AsUTF8(r.borrowed) else {
        PyErr_Clear()
        return "<\(String(cString: dcs_type_name(o)))>"
    }
    return String(cString: p)
}

func typeName(_ o: PyObj) -> String { String(cString: dcs_type_name(o)) }

nonisolated(unsafe) let emptyCString: UnsafePointer<CChar> = UnsafePointer(strdup("")!)
