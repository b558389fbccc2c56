@preconcurrency import CPython

/// A Python object reference (owned or borrowed as documented at each use).
typealias PyObj = UnsafeMutablePointer<PyObject>
typealias FastCallFunction = @convention(c) (PyObj?, UnsafePointer<PyObj?>?, Py_ssize_t, PyObj?) -> PyObj?

/// A Python exception is already set; unwind to the method boundary and return NULL.
struct PythonErrorSet: Error {}

/// Returns the owned result or throws if Python set an exception.
@inline(__always)
func check(_ o: PyObj?) throws -> PyObj {
    guard let o else { throw PythonErrorSet() }
    return o
}

/// Objects the extension needs from Python modules, looked up once at import.
struct Imports: @unchecked Sendable {
    var pickleDumps: PyObj
    var pickleLoads: PyObj
    var optimize: PyObj
    var ioOpen: PyObj
    var timeout: PyObj?
    var rb: PyObj
    var emptyTuple: PyObj
    var protocolName: PyObj
}

nonisolated(unsafe) var imports: Imports!

func importAttribute(_ module: String, _ name: String) throws -> PyObj {
    let m = try check(PyImport_ImportModule(module))
    defer { dcs_decref(m) }
    return try check(PyObject_GetAttrString(m, name))
}

/// Python str from Swift text.
func pyString(_ s: String) -> PyObj? {
    var s = s
    return s.withUTF8 { PyUnicode_DecodeUTF8(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count, nil) }
}

/// Python bytes from a buffer.
@inline(__always)
func pyBytes(_ b: UnsafeRawBufferPointer) -> PyObj? {
    PyBytes_FromStringAndSize(b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count)
}

func pyFloat(_ d: Double?) -> PyObj? {
    guard let d else { return dcs_none() }
    return PyFloat_FromDouble(d)
}

/// Raises `message` as `type` (a borrowed exception class).
@discardableResult
func raise(_ type: PyObj?, _ message: String) -> PyObj? {
    _ = message.withCString { dcs_raise(type, $0) }
    return nil
}

nonisolated(unsafe) let emptyCString: UnsafePointer<CChar> = UnsafePointer(strdup("")!)

/// `repr(o)` for an error message.
func reprText(_ o: PyObj) -> String {
    guard let r = PyObject_Repr(o) else { PyErr_Clear(); return "<\(String(cString: dcs_type_name(o)))>" }
    defer { dcs_decref(r) }
    guard let p = PyUnicode_AsUTF8(r) else { PyErr_Clear(); return "<\(String(cString: dcs_type_name(o)))>" }
    return String(cString: p)
}
