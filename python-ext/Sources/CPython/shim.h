// What Swift cannot import from Python.h by itself: macros, inline functions over object
// layouts, and variadic functions, each as a small static inline function.
#ifndef DISKCACHE_CPYTHON_SHIM_H
#define DISKCACHE_CPYTHON_SHIM_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/// Python 3.10 spells Py_TYPE as a macro, which Swift cannot import; 3.11 made it the inline
/// function declared here.
#if PY_VERSION_HEX < 0x030B0000
#undef Py_TYPE
static inline PyTypeObject *Py_TYPE(PyObject *ob) { return ob->ob_type; }
#endif

/// The extension type's instances: the object header and one pointer to the Swift state.
typedef struct {
    PyObject_HEAD
    void *core;
} DCSObject;

static inline Py_ssize_t dcs_object_size(void) { return (Py_ssize_t)sizeof(DCSObject); }
static inline void *dcs_get_core(PyObject *o) { return ((DCSObject *)o)->core; }
static inline void dcs_set_core(PyObject *o, void *core) { ((DCSObject *)o)->core = core; }

static inline PyObject *dcs_py_none(void) { return Py_None; }
static inline PyObject *dcs_py_true(void) { return Py_True; }
static inline PyObject *dcs_py_false(void) { return Py_False; }
static inline double dcs_float_value(PyObject *o) { return PyFloat_AS_DOUBLE(o); }
static inline const char *dcs_type_name(PyObject *o) { return Py_TYPE(o)->tp_name; }
static inline int dcs_dict_check(PyObject *o) { return PyDict_Check(o); }
static inline int dcs_dict_exact(PyObject *o) { return PyDict_CheckExact(o); }
static inline unsigned long dcs_type_flags(void) { return Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE; }
static inline int dcs_is_none(PyObject *o) { return o == Py_None; }
/// Only PyRef (Python.swift) and the type's dealloc count references.
static inline void dcs_incref(PyObject *o) { Py_INCREF(o); }
static inline void dcs_decref(PyObject *o) { Py_DECREF(o); }

static inline int dcs_bytes_exact(PyObject *o) { return PyBytes_CheckExact(o); }
static inline int dcs_unicode_exact(PyObject *o) { return PyUnicode_CheckExact(o); }
static inline int dcs_long_exact(PyObject *o) { return PyLong_CheckExact(o); }
static inline int dcs_float_exact(PyObject *o) { return PyFloat_CheckExact(o); }
static inline int dcs_long_check(PyObject *o) { return PyLong_Check(o); }
static inline int dcs_float_check(PyObject *o) { return PyFloat_Check(o); }
static inline int dcs_unicode_check(PyObject *o) { return PyUnicode_Check(o); }
static inline int dcs_bytes_check(PyObject *o) { return PyBytes_Check(o); }
static inline int dcs_tuple_check(PyObject *o) { return PyTuple_Check(o); }
static inline int dcs_bytearray_check(PyObject *o) { return PyByteArray_Check(o); }
static inline int dcs_memoryview_check(PyObject *o) { return PyMemoryView_Check(o); }

static inline char *dcs_bytes_data(PyObject *o) { return PyBytes_AS_STRING(o); }
static inline Py_ssize_t dcs_bytes_size(PyObject *o) { return PyBytes_GET_SIZE(o); }
static inline Py_ssize_t dcs_unicode_length(PyObject *o) { return PyUnicode_GET_LENGTH(o); }
static inline PyObject *dcs_tuple_item(PyObject *t, Py_ssize_t i) { return PyTuple_GET_ITEM(t, i); }
static inline Py_ssize_t dcs_tuple_size(PyObject *t) { return PyTuple_GET_SIZE(t); }
static inline void dcs_tuple_set(PyObject *t, Py_ssize_t i, PyObject *v) { PyTuple_SET_ITEM(t, i, v); }

static inline PyObject *dcs_key_error(PyObject *key) { PyErr_SetObject(PyExc_KeyError, key); return NULL; }
/// An OSError (or subclass `type`) with errno `err`: OSError(err, msg).
static inline PyObject *dcs_os_error_of(PyObject *type, int err, const char *msg) {
    PyObject *args = Py_BuildValue("(is)", err, msg);
    if (args) { PyErr_SetObject(type, args); Py_DECREF(args); }
    return NULL;
}
static inline PyObject *dcs_os_error(int err, const char *msg) { return dcs_os_error_of(PyExc_OSError, err, msg); }
static inline PyObject *dcs_raise(PyObject *type, const char *msg) { PyErr_SetString(type, msg); return NULL; }

/// Takes the raised exception (a new reference, or NULL), so that Python code can run before
/// it is raised again by dcs_error_restore (which takes the reference back).
static inline PyObject *dcs_error_take(void) {
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value != NULL && traceback != NULL) PyException_SetTraceback(value, traceback);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}
static inline void dcs_error_restore(PyObject *error) {
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(error);
#else
    if (error != NULL) PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(error)), error, PyException_GetTraceback(error));
#endif
}

static inline PyObject *dcs_call1(PyObject *f, PyObject *a) { return PyObject_CallOneArg(f, a); }
static inline PyObject *dcs_call2(PyObject *f, PyObject *a, PyObject *b) {
    PyObject *args[2] = {a, b};
    return PyObject_Vectorcall(f, args, 2, NULL);
}
static inline PyObject *dcs_call4(PyObject *f, PyObject *a, PyObject *b, PyObject *c, PyObject *d) {
    PyObject *args[4] = {a, b, c, d};
    return PyObject_Vectorcall(f, args, 4, NULL);
}

/// A call with a METH_FASTCALL | METH_KEYWORDS caller's arguments passed on as they are.
static inline PyObject *dcs_vectorcall(PyObject *f, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return PyObject_Vectorcall(f, args, (size_t)nargs, kwnames);
}

/// PyModuleDef needs PyModuleDef_HEAD_INIT, a macro initialiser.
static inline PyModuleDef *dcs_new_module_def(const char *name, PyMethodDef *methods) {
    PyModuleDef *def = (PyModuleDef *)PyMem_RawCalloc(1, sizeof(PyModuleDef));
    PyModuleDef init = {PyModuleDef_HEAD_INIT, name, NULL, -1, methods, NULL, NULL, NULL, NULL};
    *def = init;
    return def;
}

/// Puts a C mapping-assignment function back on a heap type after Python's class machinery
/// replaced it with its generic dispatcher (a class that defines __delitem__ gets one).
static inline int dcs_set_ass_subscript(PyObject *type, objobjargproc fn) {
    if (!PyType_Check(type) || ((PyTypeObject *)type)->tp_as_mapping == NULL) return -1;
    ((PyTypeObject *)type)->tp_as_mapping->mp_ass_subscript = fn;
    PyType_Modified((PyTypeObject *)type);
    return 0;
}

static inline void *dcs_save_thread(void) { return (void *)PyEval_SaveThread(); }
static inline void dcs_restore_thread(void *state) { PyEval_RestoreThread((PyThreadState *)state); }
static inline int dcs_gil_held(void) { return PyGILState_Check(); }

#endif
