@preconcurrency import CPython

/// A method's parameters: an enum whose cases, in order, name them (a case `expireTime` is
/// the Python parameter `expire_time`). Arguments are read by case, never by position.
protocol Parameters: CaseIterable, RawRepresentable where RawValue == Int {}

/// Parsed arguments of a METH_FASTCALL | METH_KEYWORDS call (borrowed references; nil = not
/// given), in fixed storage: no allocation on the hot path. `Signature` checks that the
/// parameters fit.
struct Arguments<P: Parameters> {
    static var capacity: Int { 8 }
    private var slots: (PyObj?, PyObj?, PyObj?, PyObj?, PyObj?, PyObj?, PyObj?, PyObj?) = (nil, nil, nil, nil, nil, nil, nil, nil)

    init() {}

    subscript(p: P) -> PyObj? {
        @inline(__always) get { self[position: p.rawValue] }
        @inline(__always) set { self[position: p.rawValue] = newValue }
    }

    fileprivate subscript(position i: Int) -> PyObj? {
        get {
            switch i {
            case 0: return slots.0
            case 1: return slots.1
            case 2: return slots.2
            case 3: return slots.3
            case 4: return slots.4
            case 5: return slots.5
            case 6: return slots.6
            default: return slots.7
            }
        }
        set {
            switch i {
            case 0: slots.0 = newValue
            case 1: slots.1 = newValue
            case 2: slots.2 = newValue
            case 3: slots.3 = newValue
            case 4: slots.4 = newValue
            case 5: slots.5 = newValue
            case 6: slots.6 = newValue
            default: slots.7 = newValue
            }
        }
    }

    /// Whether the argument was given and is true (`bool(arg)`, which may raise).
    func flag(_ p: P) throws -> Bool {
        guard let o = self[p] else { return false }
        let r = PyObject_IsTrue(o)
        if r < 0 { throw PythonErrorSet() }
        return r == 1
    }

    /// A flag whose default is true.
    func flag(_ p: P, default d: Bool) throws -> Bool {
        self[p] == nil ? d : try flag(p)
    }
}

/// A method's signature: its name and parameters `P`, the first `required` of them required.
struct Signature<P: Parameters>: @unchecked Sendable {
    let name: String
    let params: [String]
    let required: Int
    /// NUL-terminated copies for comparing keyword names without allocating.
    let cParams: [UnsafeMutablePointer<CChar>]

    init(_ name: String, required: Int) {
        let cases = Array(P.allCases)
        precondition(cases.count <= Arguments<P>.capacity, "\(name)() has more parameters than Arguments holds")
        precondition(cases.enumerated().allSatisfy { $0.offset == $0.element.rawValue }, "\(name)(): parameter cases must be numbered in order")
        self.name = name
        params = cases.map { Signature.pythonName(String(describing: $0)) }
        self.required = required
        cParams = params.map { strdup($0)! }
    }

    /// `expireTime` → `expire_time`.
    static func pythonName(_ swiftName: String) -> String {
        var out = ""
        for c in swiftName {
            if c.isUppercase {
                out.append("_")
                out.append(contentsOf: c.lowercased())
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Parses positional and keyword arguments CPython-style (same TypeError messages).
    @inline(__always)
    func parse(_ args: UnsafePointer<PyObj?>?, _ nargs: Int, _ kwnames: PyObj?) throws -> Arguments<P> {
        var out = Arguments<P>()
        if nargs > params.count {
            throw pythonError(PyExc_TypeError, "\(name)() takes from \(required + 1) to \(params.count + 1) positional arguments but \(nargs + 1) were given")
        }
        for i in 0..<nargs { out[position: i] = args![i] }
        if let kwnames {
            let nkw = dcs_tuple_size(kwnames)
            for k in 0..<nkw {
                let kname = dcs_tuple_item(kwnames, k)!
                guard let p = cParams.firstIndex(where: { PyUnicode_CompareWithASCIIString(kname, $0) == 0 }) else {
                    throw pythonError(PyExc_TypeError, "\(name)() got an unexpected keyword argument '\(strText(kname))'")
                }
                if out[position: p] != nil {
                    throw pythonError(PyExc_TypeError, "\(name)() got multiple values for argument '\(params[p])'")
                }
                out[position: p] = args![nargs + k]
            }
        }
        for i in 0..<required where out[position: i] == nil {
            throw pythonError(PyExc_TypeError, "\(name)() missing 1 required positional argument: '\(params[i])'")
        }
        return out
    }
}
