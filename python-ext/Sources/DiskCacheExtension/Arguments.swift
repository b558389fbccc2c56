@preconcurrency import CPython

/// Up to eight parsed arguments of a METH_FASTCALL | METH_KEYWORDS call (borrowed
/// references; nil = not given). Fixed storage: no allocation on the hot path.
struct Arguments {
    var storage: (PyObj?, PyObj?, PyObj?, PyObj?, PyObj?, PyObj?, PyObj?, PyObj?) = (nil, nil, nil, nil, nil, nil, nil, nil)

    subscript(i: Int) -> PyObj? {
        get {
            switch i {
            case 0: return storage.0
            case 1: return storage.1
            case 2: return storage.2
            case 3: return storage.3
            case 4: return storage.4
            case 5: return storage.5
            case 6: return storage.6
            default: return storage.7
            }
        }
        set {
            switch i {
            case 0: storage.0 = newValue
            case 1: storage.1 = newValue
            case 2: storage.2 = newValue
            case 3: storage.3 = newValue
            case 4: storage.4 = newValue
            case 5: storage.5 = newValue
            case 6: storage.6 = newValue
            default: storage.7 = newValue
            }
        }
    }

    /// Whether argument `i` was given and is true.
    func flag(_ i: Int) throws -> Bool {
        guard let o = self[i] else { return false }
        let r = PyObject_IsTrue(o)
        if r < 0 { throw PythonErrorSet() }
        return r == 1
    }
}

/// A method's signature: its name and its parameters, the first `required` of them required.
struct Signature: @unchecked Sendable {
    let name: String
    let params: [String]
    let required: Int
    /// NUL-terminated copies for comparing keyword names without allocating.
    let cParams: [UnsafeMutablePointer<CChar>]

    init(_ name: String, _ params: [String], required: Int) {
        self.name = name
        self.params = params
        self.required = required
        cParams = params.map { strdup($0)! }
    }

    /// Parses positional and keyword arguments CPython-style (same TypeError messages).
    @inline(__always)
    func parse(_ args: UnsafePointer<PyObj?>?, _ nargs: Int, _ kwnames: PyObj?) throws -> Arguments {
        var out = Arguments()
        if nargs > params.count {
            raise(PyExc_TypeError, "\(name)() takes from \(required + 1) to \(params.count + 1) positional arguments but \(nargs + 1) were given")
            throw PythonErrorSet()
        }
        for i in 0..<nargs { out[i] = args![i] }
        if let kwnames {
            let nkw = dcs_tuple_size(kwnames)
            for k in 0..<nkw {
                let kname = dcs_tuple_item(kwnames, k)!
                var matched = false
                for (p, c) in cParams.enumerated() where PyUnicode_CompareWithASCIIString(kname, c) == 0 {
                    if out[p] != nil {
                        raise(PyExc_TypeError, "\(name)() got multiple values for argument '\(params[p])'")
                        throw PythonErrorSet()
                    }
                    out[p] = args![nargs + k]
                    matched = true
                    break
                }
                if !matched {
                    let s = PyObject_Str(kname)
                    let text = s.flatMap { PyUnicode_AsUTF8($0) }.map { String(cString: $0) } ?? "?"
                    dcs_xdecref(s)
                    raise(PyExc_TypeError, "\(name)() got an unexpected keyword argument '\(text)'")
                    throw PythonErrorSet()
                }
            }
        }
        for i in 0..<required where out[i] == nil {
            raise(PyExc_TypeError, "\(name)() missing 1 required positional argument: '\(params[i])'")
            throw PythonErrorSet()
        }
        return out
    }
}
