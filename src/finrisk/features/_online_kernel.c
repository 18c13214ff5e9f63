/*
 * Compiled kernel of the online feature engine: one window's slide and in-order push.
 *
 * Why C: the generated Python step spends a large share of its time sliding windows and adding the
 * event to them, a few dozen interpreter operations per window and column (see docs/features.md,
 * "Compiled window kernel", for the measured gain). This module does exactly what the generated
 * Python code of finrisk.features._online_codegen does (compile_slide and the lag-0 insert), on the
 * very same KeyState objects, through the same Python number protocol (exact integer sums of
 * int(v * 2**64), the same comparisons and tie order), so the values and the state are identical
 * with or without it and snapshots do not depend on it. finrisk.features._online_native loads it and
 * falls back to the Python code when it is missing or FINRISK_PURE_PYTHON is set.
 *
 * With this module built, _online_state.KeyState derives from State (below): the window's bounds,
 * time and due are machine integers in the state object, read and written in place; its counts, sums
 * and sums of squares are Exact objects (256-bit integers, see below). Also here: the event time in µs
 * (event_us) and a single-key group's expiry walk (sweep_keys), measured in docs/features.md (round 3).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <datetime.h>
#include <math.h>
#include <stdint.h>
#include <limits.h>
#include <string.h>

enum { F_ENTS, F_WS, F_WE, F_NOW, F_DUE, F_NN, F_S1, F_S2, F_MINS, F_MAXS, F_DIST, F_DIRTY, F_SIBS, N_FIELDS };
static const char *FIELD_NAMES[N_FIELDS] = {"ents", "ws", "we", "now", "due", "nn", "s1", "s2",
                                            "mins", "maxs", "dist", "dirty", "sibs"};

/* The per-key state of one window (the base of _online_state.KeyState when this module is built): the
   window's bounds, time and due as machine integers in the object itself, not four int objects to
   reach (and to allocate at every move); the aggregates stay Python objects, as in the Python class. */
/* Not tracked by the garbage collector: a state cannot be part of a reference cycle (it holds lists,
   tuples and dicts of event values and entries, and its shorter windows' states, which hold no state),
   so the collector need not walk the states. The type itself has no collector flag, but KeyState, its
   Python subclass, has (every heap type's has): State_new untracks each state when it is made, and the
   Python side its containers where it makes them (untracked, below). */
typedef struct {
    PyObject_HEAD
    long long ws, we, now, due;
    PyObject *ents, *nn, *s1, *s2, *mins, *maxs, *dist, *dirty, *sibs;
} StateObject;

static Py_ssize_t offsets[N_FIELDS] = {
    offsetof(StateObject, ents), offsetof(StateObject, ws), offsetof(StateObject, we),
    offsetof(StateObject, now), offsetof(StateObject, due), offsetof(StateObject, nn),
    offsetof(StateObject, s1), offsetof(StateObject, s2), offsetof(StateObject, mins),
    offsetof(StateObject, maxs), offsetof(StateObject, dist), offsetof(StateObject, dirty),
    offsetof(StateObject, sibs)};
static PyObject *scale = NULL;  /* the float 2**64 */
static long long far_due = 0;   /* FAR: a due that never comes */
static PyObject *str_pop, *str_popleft, *str_append;

static void State_dealloc(StateObject *self) {
    Py_CLEAR(self->ents); Py_CLEAR(self->nn); Py_CLEAR(self->s1); Py_CLEAR(self->s2); Py_CLEAR(self->mins);
    Py_CLEAR(self->maxs); Py_CLEAR(self->dist); Py_CLEAR(self->dirty); Py_CLEAR(self->sibs);
    Py_TYPE(self)->tp_free((PyObject *)self);  /* a Python subclass's own dealloc releases its type */
}

/* Why: _online_state.KeyState is a Python subclass, and CPython makes every heap type's instances
   tracked by the collector (its type flag), whatever the base: so each state was walked by every young
   collection after it was made and by every full one (at the benchmark's full size, 136,000 states:
   about 180 ms per full collection, 7% of the engine's CPU; docs/features.md, round 5). A state holds
   entries, aggregates and its shorter windows' states, never anything that refers back to it, so it
   cannot be part of a reference cycle: untrack it at birth, as CPython itself untracks a tuple of plain
   values. (subtype_dealloc untracks only a tracked object; KeyState has no finalizer to retrack it.) */
static PyObject *State_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *self = PyType_GenericNew(type, args, kwds);
    if (self != NULL && PyObject_IS_GC(self) && PyObject_GC_IsTracked(self)) PyObject_GC_UnTrack(self);
    return self;
}

static PyMemberDef State_members[] = {
    {"ents", T_OBJECT_EX, offsetof(StateObject, ents), 0, "entries, sorted"},
    {"ws", T_LONGLONG, offsetof(StateObject, ws), 0, "first entry in the window"},
    {"we", T_LONGLONG, offsetof(StateObject, we), 0, "first entry after the window"},
    {"now", T_LONGLONG, offsetof(StateObject, now), 0, "the window's end (µs)"},
    {"due", T_LONGLONG, offsetof(StateObject, due), 0, "when the window next moves (µs)"},
    {"nn", T_OBJECT_EX, offsetof(StateObject, nn), 0, NULL},
    {"s1", T_OBJECT_EX, offsetof(StateObject, s1), 0, NULL},
    {"s2", T_OBJECT_EX, offsetof(StateObject, s2), 0, NULL},
    {"mins", T_OBJECT_EX, offsetof(StateObject, mins), 0, NULL},
    {"maxs", T_OBJECT_EX, offsetof(StateObject, maxs), 0, NULL},
    {"dist", T_OBJECT_EX, offsetof(StateObject, dist), 0, NULL},
    {"dirty", T_OBJECT_EX, offsetof(StateObject, dirty), 0, NULL},
    {"sibs", T_OBJECT_EX, offsetof(StateObject, sibs), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject StateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "finrisk.features._online_kernel.State",
    .tp_basicsize = sizeof(StateObject),
    .tp_dealloc = (destructor)State_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The fields of one window's per-key state (the base of _online_state.KeyState).",
    .tp_members = State_members,
    .tp_new = State_new,
};

/* ---- KeyState fields ---- */

static inline PyObject *get_field(PyObject *ks, int f) {
    PyObject *v = *(PyObject **)((char *)ks + offsets[f]);
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "KeyState has no value for '%s'", FIELD_NAMES[f]);
    }
    return v; /* borrowed */
}

static inline void set_field(PyObject *ks, int f, PyObject *value) { /* steals value */
    PyObject **slot = (PyObject **)((char *)ks + offsets[f]);
    PyObject *old = *slot;
    *slot = value;
    Py_XDECREF(old);
}

static inline int get_ll(PyObject *ks, int f, long long *out) {
    *out = *(long long *)((char *)ks + offsets[f]);
    return 0;
}

static inline int set_ll(PyObject *ks, int f, long long x) {
    *(long long *)((char *)ks + offsets[f]) = x;
    return 0;
}

static int check_state(PyObject *ks) {
    if (!PyObject_TypeCheck(ks, &StateType)) {
        PyErr_Format(PyExc_TypeError, "expected a KeyState, got %.100s", Py_TYPE(ks)->tp_name);
        return -1;
    }
    return 0;
}

/* untrack ``o`` from the collector when tracked: for the containers of a state (its distinct-value dicts'
   tuple, its extremes' lists and deques, an entity record), which hold entries, event values, counts and
   states, never anything that refers back to them, so they cannot be part of a reference cycle; CPython
   never untracks a list, a deque or a tuple of dicts or states itself (see State_new) */
static inline void untrack(PyObject *o) {
    if (PyObject_IS_GC(o) && PyObject_GC_IsTracked(o)) PyObject_GC_UnTrack(o);
}

/* an int as a long long. Why: in CPython 3.11, PyLong_AsLongLong goes through _PyLong_AsByteArray for
   any int of two digits or more, and every timestamp in µs has two (30-bit) digits: 5% of the engine's
   time was that conversion (py-spy, round 3). Read the one- and two-digit ints directly there. */
static inline long long as_ll(PyObject *o) {
#if PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
    if (PyLong_CheckExact(o)) {
        PyLongObject *v = (PyLongObject *)o;
        switch (Py_SIZE(v)) {
        case 0: return 0;
        case 1: return (long long)v->ob_digit[0];
        case -1: return -(long long)v->ob_digit[0];
        case 2: return ((long long)v->ob_digit[1] << PyLong_SHIFT) | (long long)v->ob_digit[0];
        case -2: return -(((long long)v->ob_digit[1] << PyLong_SHIFT) | (long long)v->ob_digit[0]);
        default: break;
        }
    }
#endif
    return PyLong_AsLongLong(o);
}

/* placement of an entry: entry[0], an int */
static int placement(PyObject *ent, long long *out) {
    if (!PyTuple_Check(ent) || PyTuple_GET_SIZE(ent) < 1) {
        PyErr_SetString(PyExc_TypeError, "an entry must be a non-empty tuple");
        return -1;
    }
    long long p = as_ll(PyTuple_GET_ITEM(ent, 0));
    if (p == -1 && PyErr_Occurred()) return -1;
    *out = p;
    return 0;
}

/* seq[c] += delta (seq a list: the aggregates a column writes; anything else goes through the protocol) */
static int item_add(PyObject *seq, Py_ssize_t c, PyObject *delta, int subtract) {
    PyObject *old = PySequence_GetItem(seq, c);
    if (old == NULL) return -1;
    PyObject *now = subtract ? PyNumber_Subtract(old, delta) : PyNumber_Add(old, delta);
    Py_DECREF(old);
    if (now == NULL) return -1;
    if (PyList_CheckExact(seq) && c < PyList_GET_SIZE(seq)) {
        return PyList_SetItem(seq, c, now);
    }
    int rc = PySequence_SetItem(seq, c, now);
    Py_DECREF(now);
    return rc;
}

typedef struct {
    Py_ssize_t pos;
    int sums, squares, minimum, maximum, distinct, counts;
} Column;

typedef struct {
    PyObject_HEAD
    Column *columns;
    Py_ssize_t ncolumns;
    long long lag, span, horizon; /* span: lag + window; horizon: span + lateness */
    long long window;
    int trims;
} WindowObject;

static PyObject *one = NULL;

/* ---- Exact: the integer aggregates of a window (non-null counts, sums and sums of squares) ----
 *
 * Why: the Python state keeps them as lists of Python ints (sums of int(v * 2**64): 3-6 digit big
 * integers); every add and remove allocated a new int, wrote it into the list and freed the old one,
 * and every read went through the list (docs/features.md, "round 3"). Exact holds the same integers
 * as 256-bit two's-complement machine numbers inside one object, so the compiled group updates and
 * reads them in place. A value that does not fit (|x| >= 2**255, which needs amounts beyond 2**64 or
 * so) is kept as a Python int for that column from then on: the arithmetic stays exact either way.
 * To Python it is a sequence of ints (``ks.s1[c] += x`` works, as in the pure-Python engine) and it
 * pickles as a plain list, so snapshots are the same with and without the kernel. */

typedef struct { uint64_t w[4]; } I256; /* little-endian limbs, two's complement */

typedef struct {
    PyObject_VAR_HEAD
    PyObject **big; /* per column: the value as a Python int when it left the 256-bit range, else NULL */
    I256 v[1];
} ExactObject;

static PyTypeObject ExactType;
#define Exact_Check(o) (Py_TYPE(o) == &ExactType)

static inline int i256_negative(const I256 *a) { return (int64_t)a->w[3] < 0; }

static inline I256 i256_from_i128(__int128 x) {
    I256 r;
    r.w[0] = (uint64_t)x;
    r.w[1] = (uint64_t)((unsigned __int128)x >> 64);
    r.w[2] = r.w[3] = x < 0 ? ~(uint64_t)0 : 0;
    return r;
}

/* *a += b (or -= b); 0, or -1 on signed overflow (then *a is unchanged) */
static inline int i256_add(I256 *a, const I256 *b, int subtract) {
    I256 bb = *b, r;
    if (subtract) { /* -b = ~b + 1 */
        unsigned __int128 c = 1;
        for (int i = 0; i < 4; i++) { c += (uint64_t)~b->w[i]; bb.w[i] = (uint64_t)c; c >>= 64; }
        if (!i256_negative(b) == !i256_negative(&bb) && (b->w[0] | b->w[1] | b->w[2] | b->w[3]) != 0) return -1;
    }
    unsigned __int128 c = 0;
    for (int i = 0; i < 4; i++) { c += (unsigned __int128)a->w[i] + bb.w[i]; r.w[i] = (uint64_t)c; c >>= 64; }
    if (i256_negative(a) == i256_negative(&bb) && i256_negative(&r) != i256_negative(a)) return -1;
    *a = r;
    return 0;
}

/* x * x for |x| <= 2**127 (always < 2**254: fits) */
static inline I256 i256_square(__int128 x) {
    unsigned __int128 u = x < 0 ? -(unsigned __int128)x : (unsigned __int128)x;
    uint64_t a0 = (uint64_t)u, a1 = (uint64_t)(u >> 64);
    unsigned __int128 p00 = (unsigned __int128)a0 * a0, p01 = (unsigned __int128)a0 * a1,
                      p11 = (unsigned __int128)a1 * a1;
    I256 r = {{(uint64_t)p00, (uint64_t)(p00 >> 64), (uint64_t)p11, (uint64_t)(p11 >> 64)}};
    for (int k = 0; k < 2; k++) { /* + p01 << 64, twice */
        unsigned __int128 c = (unsigned __int128)r.w[1] + (uint64_t)p01;
        r.w[1] = (uint64_t)c;
        c = (c >> 64) + r.w[2] + (uint64_t)(p01 >> 64);
        r.w[2] = (uint64_t)c;
        c = (c >> 64) + r.w[3];
        r.w[3] = (uint64_t)c;
    }
    return r;
}

/* the value when it fits an __int128 (1), else 0 */
static inline int i256_as_i128(const I256 *a, __int128 *out) {
    uint64_t ext = (int64_t)a->w[1] < 0 ? ~(uint64_t)0 : 0;
    if (a->w[2] != ext || a->w[3] != ext) return 0;
    *out = (__int128)(((unsigned __int128)a->w[1] << 64) | a->w[0]);
    return 1;
}

static PyObject *i256_to_long(const I256 *a) {
    __int128 x;
    if (i256_as_i128(a, &x) && x >= LLONG_MIN && x <= LLONG_MAX) return PyLong_FromLongLong((long long)x);
    unsigned char bytes[32];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) bytes[8 * i + j] = (unsigned char)(a->w[i] >> (8 * j));
    return _PyLong_FromByteArray(bytes, 32, 1, 1);
}

/* an int into 256 bits: 1 (fits), 0 (too large: no error set), -1 (error) */
static int i256_from_long(PyObject *v, I256 *out) {
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "an exact aggregate holds ints, not %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    int overflow;
    long long s = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (s == -1 && PyErr_Occurred()) return -1;
    if (!overflow) { *out = i256_from_i128(s); return 1; }
    unsigned char bytes[32];
#if PY_VERSION_HEX >= 0x030D0000 /* 3.13 added with_exceptions */
    if (_PyLong_AsByteArray((PyLongObject *)v, bytes, 32, 1, 1, 1) < 0) {
#else
    if (_PyLong_AsByteArray((PyLongObject *)v, bytes, 32, 1, 1) < 0) {
#endif
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
        PyErr_Clear();
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        uint64_t w = 0;
        for (int j = 0; j < 8; j++) w |= (uint64_t)bytes[8 * i + j] << (8 * j);
        out->w[i] = w;
    }
    return 1;
}

static PyObject *Exact_item(ExactObject *self, Py_ssize_t c) {
    if (c < 0 || c >= Py_SIZE(self)) {
        PyErr_SetString(PyExc_IndexError, "exact aggregate index out of range");
        return NULL;
    }
    if (self->big != NULL && self->big[c] != NULL) return Py_NewRef(self->big[c]);
    return i256_to_long(&self->v[c]);
}

static int Exact_ass_item(ExactObject *self, Py_ssize_t c, PyObject *value) {
    if (c < 0 || c >= Py_SIZE(self)) {
        PyErr_SetString(PyExc_IndexError, "exact aggregate index out of range");
        return -1;
    }
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "an exact aggregate has a fixed length");
        return -1;
    }
    I256 x;
    int fits = i256_from_long(value, &x);
    if (fits < 0) return -1;
    if (fits) {
        self->v[c] = x;
        if (self->big != NULL) Py_CLEAR(self->big[c]);
        return 0;
    }
    if (self->big == NULL) {
        self->big = PyMem_Calloc(Py_SIZE(self), sizeof(PyObject *));
        if (self->big == NULL) { PyErr_NoMemory(); return -1; }
    }
    Py_INCREF(value);
    Py_XSETREF(self->big[c], value);
    return 0;
}

static Py_ssize_t Exact_length(ExactObject *self) { return Py_SIZE(self); }

/* column c += x (or -= x) exactly; x a machine number (a 256-bit value), kept boxed once too large */
static int exact_add(ExactObject *self, Py_ssize_t c, const I256 *x, int subtract) {
    if (c < 0 || c >= Py_SIZE(self)) {
        PyErr_SetString(PyExc_IndexError, "exact aggregate index out of range");
        return -1;
    }
    if ((self->big == NULL || self->big[c] == NULL) && i256_add(&self->v[c], x, subtract) == 0) return 0;
    PyObject *old = Exact_item(self, c), *delta = i256_to_long(x), *now = NULL;
    if (old != NULL && delta != NULL) now = subtract ? PyNumber_Subtract(old, delta) : PyNumber_Add(old, delta);
    Py_XDECREF(old);
    Py_XDECREF(delta);
    if (now == NULL) return -1;
    int rc = Exact_ass_item(self, c, now);
    Py_DECREF(now);
    return rc;
}

static inline int exact_small(ExactObject *self, Py_ssize_t c, long long *out) {
    __int128 x;
    if ((self->big != NULL && self->big[c] != NULL) || !i256_as_i128(&self->v[c], &x)) return 0;
    if (x < LLONG_MIN || x > LLONG_MAX) return 0;
    *out = (long long)x;
    return 1;
}

static PyObject *Exact_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *init;
    static char *kwlist[] = {"init", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Exact", kwlist, &init)) return NULL;
    PyObject *seq = NULL;
    Py_ssize_t n;
    if (PyLong_Check(init)) {
        n = PyLong_AsSsize_t(init);
        if (n == -1 && PyErr_Occurred()) return NULL;
        if (n < 0) { PyErr_SetString(PyExc_ValueError, "an exact aggregate needs a length >= 0"); return NULL; }
    } else {
        seq = PySequence_Fast(init, "Exact(n) or Exact(ints)");
        if (seq == NULL) return NULL;
        n = PySequence_Fast_GET_SIZE(seq);
    }
    ExactObject *self = (ExactObject *)type->tp_alloc(type, n);
    if (self == NULL) { Py_XDECREF(seq); return NULL; }
    self->big = NULL;
    memset(self->v, 0, sizeof(I256) * (size_t)(n ? n : 1));
    for (Py_ssize_t c = 0; seq != NULL && c < n; c++) {
        if (Exact_ass_item(self, c, PySequence_Fast_GET_ITEM(seq, c)) < 0) {
            Py_DECREF(seq);
            Py_DECREF(self);
            return NULL;
        }
    }
    Py_XDECREF(seq);
    return (PyObject *)self;
}

static void Exact_dealloc(ExactObject *self) {
    if (self->big != NULL) {
        for (Py_ssize_t c = 0; c < Py_SIZE(self); c++) Py_XDECREF(self->big[c]);
        PyMem_Free(self->big);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Exact_list(ExactObject *self) {
    PyObject *out = PyList_New(Py_SIZE(self));
    if (out == NULL) return NULL;
    for (Py_ssize_t c = 0; c < Py_SIZE(self); c++) {
        PyObject *v = Exact_item(self, c);
        if (v == NULL) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, c, v);
    }
    return out;
}

/* pickled as a plain list of ints: a snapshot restores without the kernel too */
static PyObject *Exact_reduce(ExactObject *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *items = Exact_list(self);
    if (items == NULL) return NULL;
    return Py_BuildValue("(O(N))", (PyObject *)&PyList_Type, items);
}

static PyObject *Exact_richcompare(PyObject *a, PyObject *b, int op) {
    if ((op != Py_EQ && op != Py_NE) || !PySequence_Check(a) || !PySequence_Check(b)) Py_RETURN_NOTIMPLEMENTED;
    PyObject *la = Exact_Check(a) ? Exact_list((ExactObject *)a) : PySequence_List(a);
    PyObject *lb = la == NULL ? NULL : Exact_Check(b) ? Exact_list((ExactObject *)b) : PySequence_List(b);
    PyObject *r = lb == NULL ? NULL : PyObject_RichCompare(la, lb, op);
    Py_XDECREF(la);
    Py_XDECREF(lb);
    return r;
}

static PyObject *Exact_repr(ExactObject *self) {
    PyObject *items = Exact_list(self);
    if (items == NULL) return NULL;
    PyObject *r = PyUnicode_FromFormat("Exact(%R)", items);
    Py_DECREF(items);
    return r;
}

static PySequenceMethods Exact_as_sequence = {
    .sq_length = (lenfunc)Exact_length,
    .sq_item = (ssizeargfunc)Exact_item,
    .sq_ass_item = (ssizeobjargproc)Exact_ass_item,
};

static PyMethodDef Exact_methods[] = {
    {"__reduce__", (PyCFunction)Exact_reduce, METH_NOARGS, "pickled as a list of ints"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ExactType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "finrisk.features._online_kernel.Exact",
    .tp_basicsize = offsetof(ExactObject, v),
    .tp_itemsize = sizeof(I256),
    .tp_dealloc = (destructor)Exact_dealloc,
    .tp_repr = (reprfunc)Exact_repr,
    .tp_as_sequence = &Exact_as_sequence,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_richcompare = Exact_richcompare,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_SEQUENCE,
    .tp_doc = "Exact(n) or Exact(ints): a window's exact integer aggregates, one per column (see the C source).",
    .tp_methods = Exact_methods,
    .tp_new = Exact_new,
};

/* int(v * SCALE) as a machine number, when v is a float or an int whose scaled value fits 128 bits
   (1); 0 when it must go through Python (then no error is set) */
static inline int scaled_native(PyObject *v, __int128 *out) {
    double d;
    if (PyFloat_CheckExact(v)) {
        d = PyFloat_AS_DOUBLE(v);
    } else if (PyLong_CheckExact(v)) {
        d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    } else {
        return 0;
    }
    d *= 18446744073709551616.0;
    if (!(d > -1.7014118346046923e38 && d < 1.7014118346046923e38)) return 0; /* +-2**127, NaN */
    *out = (__int128)d; /* truncation toward zero, as int() */
    return 1;
}

/* int(v * SCALE), exactly as the Python code computes it */
static PyObject *scaled(PyObject *v) {
    if (PyFloat_CheckExact(v)) { /* float * float, then int(): Python's float.__int__ is PyLong_FromDouble */
        return PyLong_FromDouble(PyFloat_AS_DOUBLE(v) * PyFloat_AS_DOUBLE(scale));
    }
    PyObject *f = PyNumber_Multiply(v, scale);
    if (f == NULL) return NULL;
    PyObject *x = PyNumber_Long(f);
    Py_DECREF(f);
    return x;
}

static int sums_update(PyObject *ks, Py_ssize_t c, const Column *col, PyObject *v, int subtract) {
    PyObject *e1 = get_field(ks, F_S1), *e2 = col->squares ? get_field(ks, F_S2) : NULL;
    if (e1 == NULL || (col->squares && e2 == NULL)) return -1;
    __int128 xn;
    if (Exact_Check(e1) && (e2 == NULL || Exact_Check(e2)) && scaled_native(v, &xn)) {
        I256 x1 = i256_from_i128(xn);
        if (exact_add((ExactObject *)e1, c, &x1, subtract) < 0) return -1;
        if (e2 == NULL) return 0;
        I256 x2 = i256_square(xn);
        return exact_add((ExactObject *)e2, c, &x2, subtract);
    }
    PyObject *x = scaled(v);
    if (x == NULL) return -1;
    PyObject *s1 = get_field(ks, F_S1);
    if (s1 == NULL || item_add(s1, c, x, subtract) < 0) goto fail;
    if (col->squares) {
        PyObject *xx = PyNumber_Multiply(x, x);
        if (xx == NULL) goto fail;
        PyObject *s2 = get_field(ks, F_S2);
        int rc = s2 == NULL ? -1 : item_add(s2, c, xx, subtract);
        Py_DECREF(xx);
        if (rc < 0) goto fail;
    }
    Py_DECREF(x);
    return 0;
fail:
    Py_DECREF(x);
    return -1;
}

static int is_dirty(PyObject *ks) {
    PyObject *d = get_field(ks, F_DIRTY);
    if (d == NULL) return -1;
    return PyObject_IsTrue(d);
}

/* while dq and dq[-1][pos] <op> v: dq.pop(); then dq.append(ent) */
static int monotonic_push(PyObject *dq, Py_ssize_t pos, PyObject *v, PyObject *ent, int op) {
    for (;;) {
        Py_ssize_t n = PyObject_Size(dq);
        if (n < 0) return -1;
        if (n == 0) break;
        PyObject *tail = PySequence_GetItem(dq, n - 1);
        if (tail == NULL) return -1;
        PyObject *tv = PySequence_GetItem(tail, pos);
        Py_DECREF(tail);
        if (tv == NULL) return -1;
        int cmp = PyObject_RichCompareBool(tv, v, op);
        Py_DECREF(tv);
        if (cmp < 0) return -1;
        if (!cmp) break;
        PyObject *r = PyObject_CallMethodNoArgs(dq, str_pop);
        if (r == NULL) return -1;
        Py_DECREF(r);
    }
    PyObject *r = PyObject_CallMethodOneArg(dq, str_append, ent);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

/* if dq and dq[0] is ent: dq.popleft() */
static int monotonic_leave(PyObject *dq, PyObject *ent) {
    int truth = PyObject_IsTrue(dq);
    if (truth <= 0) return truth;
    PyObject *head = PySequence_GetItem(dq, 0);
    if (head == NULL) return -1;
    int same = head == ent;
    Py_DECREF(head);
    if (same) {
        PyObject *r = PyObject_CallMethodNoArgs(dq, str_popleft);
        if (r == NULL) return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* the c-th item of field ``f`` of ``ks`` (a new reference) */
static PyObject *item(PyObject *ks, int f, Py_ssize_t c) {
    PyObject *seq = get_field(ks, f);
    return seq == NULL ? NULL : PySequence_GetItem(seq, c);
}

/* the count of value ``v`` in column ``c``'s distinct-value dict, one up (joining) or down (leaving:
 * dropped at zero), as _online_state.add / remove do */
static int distinct_update(PyObject *ks, Py_ssize_t c, PyObject *v, int subtract) {
    PyObject *d = item(ks, F_DIST, c);
    if (d == NULL) return -1;
    if (!PyDict_Check(d)) {
        Py_DECREF(d);
        PyErr_SetString(PyExc_TypeError, "a distinct-value column needs a dict");
        return -1;
    }
    PyObject *count = PyDict_GetItemWithError(d, v);
    int rc = -1;
    if (count == NULL) {
        if (subtract && !PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, v);
        if (!subtract && !PyErr_Occurred()) {
            PyObject *first = PyLong_FromLong(1);
            rc = first == NULL ? -1 : PyDict_SetItem(d, v, first);
            Py_XDECREF(first);
        }
    } else {
        PyObject *now = subtract ? PyNumber_Subtract(count, one) : PyNumber_Add(count, one);
        if (now != NULL) {
            int truth = subtract ? PyObject_IsTrue(now) : 1;
            rc = truth < 0 ? -1 : truth ? PyDict_SetItem(d, v, now) : PyDict_DelItem(d, v);
            Py_DECREF(now);
        }
    }
    Py_DECREF(d);
    return rc;
}

/* column ``c``'s monotonic deques (maximum, then minimum) take ``ent`` in or let it leave; nothing
 * while the state is dirty (its extremes are rebuilt on the next read) */
static int extremes_update(PyObject *ks, const Column *col, Py_ssize_t c, PyObject *v, PyObject *ent,
                           int subtract) {
    int dirty = is_dirty(ks);
    if (dirty != 0) return dirty < 0 ? -1 : 0;
    for (int maximum = 1; maximum >= 0; maximum--) {
        if (!(maximum ? col->maximum : col->minimum)) continue;
        PyObject *dq = item(ks, maximum ? F_MAXS : F_MINS, c);
        if (dq == NULL) return -1;
        int rc = subtract ? monotonic_leave(dq, ent)
                          : monotonic_push(dq, col->pos, v, ent, maximum ? Py_LE : Py_GE);
        Py_DECREF(dq);
        if (rc < 0) return -1;
    }
    return 0;
}

/* _online_state.add (``subtract`` 0: ``ent`` joins the running aggregates) and _online_state.remove
 * (1: ``ent``, the oldest entry of the window, leaves them) */
static int update_entry(WindowObject *w, PyObject *ks, PyObject *ent, int subtract) {
    Py_ssize_t size = PyTuple_GET_SIZE(ent);
    for (Py_ssize_t c = 0; c < w->ncolumns; c++) {
        const Column *col = &w->columns[c];
        if (col->pos >= size) {
            PyErr_SetString(PyExc_IndexError, "entry shorter than the window's columns");
            return -1;
        }
        PyObject *v = PyTuple_GET_ITEM(ent, col->pos);
        if (v == Py_None) continue;
        if (col->counts) {
            PyObject *nn = get_field(ks, F_NN);
            if (nn == NULL) return -1;
            if (Exact_Check(nn)) {
                static const I256 unit = {{1, 0, 0, 0}};
                if (exact_add((ExactObject *)nn, c, &unit, subtract) < 0) return -1;
            } else if (item_add(nn, c, one, subtract) < 0) {
                return -1;
            }
        }
        if (col->sums && sums_update(ks, c, col, v, subtract) < 0) return -1;
        if (col->distinct && distinct_update(ks, c, v, subtract) < 0) return -1;
        if ((col->minimum || col->maximum) && extremes_update(ks, col, c, v, ent, subtract) < 0) return -1;
    }
    return 0;
}

static int shift_sibling(PyObject *sib, long long k) {
    long long ws, we;
    if (check_state(sib) < 0 || get_ll(sib, F_WS, &ws) < 0 || get_ll(sib, F_WE, &we) < 0) return -1;
    if (set_ll(sib, F_WS, ws - k) < 0) return -1;
    return set_ll(sib, F_WE, we - k);
}

/* the generated slide of _online_codegen.compile_slide (Window.advance for t >= ks.due) */
static int slide(WindowObject *w, PyObject *ks, PyObject *tobj) {
    long long t = as_ll(tobj);
    if (t == -1 && PyErr_Occurred()) return -1;
    set_ll(ks, F_NOW, t);
    PyObject *ents = get_field(ks, F_ENTS);
    if (ents == NULL) return -1;
    if (!PyList_Check(ents)) {
        PyErr_SetString(PyExc_TypeError, "KeyState.ents must be a list");
        return -1;
    }
    Py_INCREF(ents);
    int rc = -1;
    Py_ssize_t n = PyList_GET_SIZE(ents);
    long long we, ws, p;
    if (get_ll(ks, F_WE, &we) < 0) goto done;
    long long hi = t - w->lag;
    while (we < n && we < PyList_GET_SIZE(ents)) {
        PyObject *ent = PyList_GET_ITEM(ents, we);
        if (placement(ent, &p) < 0) goto done;
        if (p > hi) break;
        Py_INCREF(ent);
        int r = update_entry(w, ks, ent, 0);
        Py_DECREF(ent);
        if (r < 0) goto done;
        we++;
    }
    if (set_ll(ks, F_WE, we) < 0 || get_ll(ks, F_WS, &ws) < 0) goto done;
    long long lo = t - w->span;
    while (ws < we && ws < PyList_GET_SIZE(ents)) {
        PyObject *ent = PyList_GET_ITEM(ents, ws);
        if (placement(ent, &p) < 0) goto done;
        if (p > lo) break;
        Py_INCREF(ent);
        int r = update_entry(w, ks, ent, 1);
        Py_DECREF(ent);
        if (r < 0) goto done;
        ws++;
    }
    if (set_ll(ks, F_WS, ws) < 0) goto done;
    if (w->trims && ws >= 32 && 2 * ws >= n && ws / 2 < PyList_GET_SIZE(ents)) {
        long long cut = t - w->horizon;
        if (placement(PyList_GET_ITEM(ents, ws / 2), &p) < 0) goto done;
        if (p <= cut) {
            /* bisect_left(ents, (cut + 1,), 0, ws): the first entry placed after the cut */
            Py_ssize_t a = 0, b = (Py_ssize_t)ws;
            while (a < b) {
                Py_ssize_t mid = (a + b) / 2;
                if (placement(PyList_GET_ITEM(ents, mid), &p) < 0) goto done;
                if (p < cut + 1) a = mid + 1; else b = mid;
            }
            long long k = a;
            if (PyList_SetSlice(ents, 0, a, NULL) < 0) goto done;
            ws -= k;
            we -= k;
            if (set_ll(ks, F_WS, ws) < 0 || set_ll(ks, F_WE, we) < 0) goto done;
            PyObject *sibs = get_field(ks, F_SIBS);
            if (sibs == NULL) goto done;
            PyObject *seq = PySequence_Fast(sibs, "KeyState.sibs must be a sequence");
            if (seq == NULL) goto done;
            for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
                if (shift_sibling(PySequence_Fast_GET_ITEM(seq, i), k) < 0) { Py_DECREF(seq); goto done; }
            }
            Py_DECREF(seq);
        }
    }
    long long due = far_due;
    Py_ssize_t len = PyList_GET_SIZE(ents);
    if (ws < we && ws < len) {
        if (placement(PyList_GET_ITEM(ents, ws), &p) < 0) goto done;
        due = p + w->span;
    }
    if (we < len) {
        if (placement(PyList_GET_ITEM(ents, we), &p) < 0) goto done;
        if (p + w->lag < due) due = p + w->lag;
    }
    rc = set_ll(ks, F_DUE, due);
done:
    Py_DECREF(ents);
    return rc;
}

static PyObject *Window_slide(WindowObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "slide(ks, t) takes 2 arguments");
        return NULL;
    }
    if (check_state(args[0]) < 0 || slide(self, args[0], args[1]) < 0) return NULL;
    Py_RETURN_NONE;
}

/* the generated lag-0 insert of one window: ``ent`` (already appended to ks.ents) joins at its end */
static PyObject *Window_push(WindowObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "push(ks, ent, t) takes 3 arguments");
        return NULL;
    }
    PyObject *ks = args[0], *ent = args[1], *tobj = args[2];
    if (check_state(ks) < 0) return NULL;
    if (!PyTuple_Check(ent)) {
        PyErr_SetString(PyExc_TypeError, "an entry must be a tuple");
        return NULL;
    }
    long long t = as_ll(tobj);
    if (t == -1 && PyErr_Occurred()) return NULL;
    long long we, due;
    if (update_entry(self, ks, ent, 0) < 0 || get_ll(ks, F_WE, &we) < 0 || set_ll(ks, F_WE, we + 1) < 0) return NULL;
    set_ll(ks, F_NOW, t);
    if (get_ll(ks, F_DUE, &due) < 0) return NULL;
    if (due == far_due && set_ll(ks, F_DUE, t + self->window) < 0) return NULL;
    Py_RETURN_NONE;
}

static int Window_init(WindowObject *self, PyObject *args, PyObject *kwds) {
    PyObject *columns;
    long long lag, window, lateness;
    int trims;
    static char *kwlist[] = {"columns", "lag_us", "window_us", "lateness_us", "trims", NULL};
    if (scale == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "call bind(SCALE, FAR) first");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OLLLp", kwlist, &columns, &lag, &window, &lateness, &trims))
        return -1;
    PyObject *seq = PySequence_Fast(columns, "columns must be a sequence");
    if (seq == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Column *cols = PyMem_Calloc(n ? n : 1, sizeof(Column));
    if (cols == NULL) { Py_DECREF(seq); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t c = 0; c < n; c++) {
        Column *col = &cols[c];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, c), "npppppp;a column is (pos, sums, squares, "
                              "minimum, maximum, distinct, counts)", &col->pos, &col->sums, &col->squares,
                              &col->minimum, &col->maximum, &col->distinct, &col->counts)) {
            PyMem_Free(cols);
            Py_DECREF(seq);
            return -1;
        }
        if (col->pos < 1) {
            PyMem_Free(cols);
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "a column's position must be positive");
            return -1;
        }
    }
    Py_DECREF(seq);
    PyMem_Free(self->columns);
    self->columns = cols;
    self->ncolumns = n;
    self->lag = lag;
    self->window = window;
    self->span = lag + window;
    self->horizon = lag + window + lateness;
    self->trims = trims;
    return 0;
}

static void Window_dealloc(WindowObject *self) {
    PyMem_Free(self->columns);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Window_methods[] = {
    {"slide", (PyCFunction)(void (*)(void))Window_slide, METH_FASTCALL,
     "slide(ks, t): move the window of ks to end at t (t >= ks.due), as the generated slide does."},
    {"push", (PyCFunction)(void (*)(void))Window_push, METH_FASTCALL,
     "push(ks, ent, t): an in-order entry (appended to ks.ents) joins a lag-0 window at its end."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WindowType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "finrisk.features._online_kernel.Window",
    .tp_basicsize = sizeof(WindowObject),
    .tp_dealloc = (destructor)Window_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Window(columns, lag_us, window_us, lateness_us, trims): one window's compiled slide and push.",
    .tp_methods = Window_methods,
    .tp_init = (initproc)Window_init,
    .tp_new = PyType_GenericNew,
};


/* ---- one state group: slide its windows, read its features, insert the event, in one call ---- */

enum { R_COUNT, R_SUM, R_MEAN, R_STD, R_MIN, R_MAX, R_COUNT_DISTINCT, R_LAST, R_TIME_SINCE_LAST,
       R_COUNT_MATCHED, R_TIME_SINCE_MATCHED };

typedef struct {
    int code;
    Py_ssize_t c, pos;
} Read;

typedef struct {
    PyObject_HEAD
    Py_ssize_t nwin;
    WindowObject **windows;   /* shortest first; the last is the state's own (the longest) */
    PyObject **columns;       /* each window's Python columns tuple (for rebuild) */
    Read **reads;
    Py_ssize_t *nreads;
    Py_ssize_t nout;
    int include_current;
    PyObject *rebuild;        /* _online_state.rebuild_extremes */
} GroupObject;

static PyObject *inv_scale = NULL, *inv_scale2 = NULL, *million = NULL;

/* the newest non-null value at ``pos`` in ents[ws:we] (None when there is none) */
static PyObject *latest(PyObject *ents, long long ws, long long we, Py_ssize_t pos) {
    for (long long i = we - 1; i >= ws; i--) {
        if (i >= PyList_GET_SIZE(ents)) continue;
        PyObject *ent = PyList_GET_ITEM(ents, i);
        if (!PyTuple_Check(ent) || pos >= PyTuple_GET_SIZE(ent)) {
            PyErr_SetString(PyExc_TypeError, "an entry must be a tuple with the window's columns");
            return NULL;
        }
        PyObject *v = PyTuple_GET_ITEM(ent, pos);
        if (v != Py_None) { Py_INCREF(v); return v; }
    }
    Py_RETURN_NONE;
}

/* seconds from ``v`` (µs) to ``t``: (t - v) / 1_000_000 */
static PyObject *since(PyObject *tobj, PyObject *v) {
    PyObject *d = PyNumber_Subtract(tobj, v);
    if (d == NULL) return NULL;
    PyObject *r = PyNumber_TrueDivide(d, million);
    Py_DECREF(d);
    return r;
}

/* s1[c] * INV_SCALE from an Exact held as a machine number: 1 (in *out), 0 (go through Python), -1 */
static int exact_float(PyObject *s1, Py_ssize_t c, double *out) {
    __int128 x;
    if (s1 == NULL) return -1;
    if (!Exact_Check(s1) || c < 0 || c >= Py_SIZE(s1)) return 0;
    ExactObject *e = (ExactObject *)s1;
    if ((e->big != NULL && e->big[c] != NULL) || !i256_as_i128(&e->v[c], &x)) return 0;
    *out = (double)x * (1.0 / 18446744073709551616.0); /* float(s1) rounds once, as Python's int * float */
    return 1;
}

/* one feature's value, as _online_codegen._READS computes it (new reference) */
static PyObject *read_one(GroupObject *g, Py_ssize_t w, const Read *r, PyObject *ks, PyObject *tobj) {
    long long ws, we;
    PyObject *n, *v, *x, *y;
    switch (r->code) {
    case R_COUNT:
        if (get_ll(ks, F_WS, &ws) < 0 || get_ll(ks, F_WE, &we) < 0) return NULL;
        return PyLong_FromLongLong(we - ws);
    case R_SUM: {
        double d;
        int fast = exact_float(get_field(ks, F_S1), r->c, &d);
        if (fast != 0) return fast < 0 ? NULL : PyFloat_FromDouble(d);
        if ((v = item(ks, F_S1, r->c)) == NULL) return NULL;
        x = PyNumber_Multiply(v, inv_scale);
        Py_DECREF(v);
        return x;
    }
    case R_MEAN: {
        PyObject *nn = get_field(ks, F_NN);
        long long count;
        double d;
        if (nn == NULL) return NULL;
        if (Exact_Check(nn) && r->c < Py_SIZE(nn) && exact_small((ExactObject *)nn, r->c, &count)) {
            if (count == 0) Py_RETURN_NONE;
            int fast = exact_float(get_field(ks, F_S1), r->c, &d);
            if (fast < 0) return NULL;
            if (fast) return PyFloat_FromDouble(d / (double)count);
        }
        if ((n = item(ks, F_NN, r->c)) == NULL) return NULL;
        int truth = PyObject_IsTrue(n);
        if (truth <= 0) { Py_DECREF(n); if (truth < 0) return NULL; Py_RETURN_NONE; }
        if ((v = item(ks, F_S1, r->c)) == NULL) { Py_DECREF(n); return NULL; }
        x = PyNumber_Multiply(v, inv_scale);
        Py_DECREF(v);
        y = x == NULL ? NULL : PyNumber_TrueDivide(x, n);
        Py_XDECREF(x);
        Py_DECREF(n);
        return y;
    }
    case R_STD: {
        if ((n = item(ks, F_NN, r->c)) == NULL) return NULL;
        long long nv = as_ll(n);
        if (nv == -1 && PyErr_Occurred()) { Py_DECREF(n); return NULL; }
        if (nv <= 1) { Py_DECREF(n); Py_RETURN_NONE; }
        /* sqrt((n * s2 - s * s) * INV_SCALE2 / (n * (n - 1))) */
        PyObject *s = item(ks, F_S1, r->c), *s2 = item(ks, F_S2, r->c);
        PyObject *a = NULL, *b = NULL, *num = NULL, *den = NULL, *q = NULL, *out = NULL;
        if (s == NULL || s2 == NULL) goto std_done;
        if ((a = PyNumber_Multiply(n, s2)) == NULL || (b = PyNumber_Multiply(s, s)) == NULL) goto std_done;
        if ((num = PyNumber_Subtract(a, b)) == NULL) goto std_done;
        Py_SETREF(num, PyNumber_Multiply(num, inv_scale2));
        if (num == NULL) goto std_done;
        if ((den = PyLong_FromLongLong(nv * (nv - 1))) == NULL) goto std_done;
        if ((q = PyNumber_TrueDivide(num, den)) == NULL) goto std_done;
        double qd = PyFloat_AsDouble(q);
        if (qd == -1.0 && PyErr_Occurred()) goto std_done;
        if (qd < 0) { PyErr_SetString(PyExc_ValueError, "math domain error"); goto std_done; }
        out = PyFloat_FromDouble(sqrt(qd));
    std_done:
        Py_DECREF(n); Py_XDECREF(s); Py_XDECREF(s2); Py_XDECREF(a); Py_XDECREF(b);
        Py_XDECREF(num); Py_XDECREF(den); Py_XDECREF(q);
        return out;
    }
    case R_MIN:
    case R_MAX: {
        int dirty = is_dirty(ks);
        if (dirty < 0) return NULL;
        if (dirty) {
            PyObject *res = PyObject_CallFunctionObjArgs(g->rebuild, g->columns[w], ks, NULL);
            if (res == NULL) return NULL;
            Py_DECREF(res);
        }
        PyObject *dq = item(ks, r->code == R_MIN ? F_MINS : F_MAXS, r->c);
        if (dq == NULL) return NULL;
        int truth = PyObject_IsTrue(dq);
        if (truth <= 0) { Py_DECREF(dq); if (truth < 0) return NULL; Py_RETURN_NONE; }
        PyObject *head = PySequence_GetItem(dq, 0);
        Py_DECREF(dq);
        if (head == NULL) return NULL;
        v = PySequence_GetItem(head, r->pos);
        Py_DECREF(head);
        if (v == NULL) return NULL;
        x = PyNumber_Float(v);
        Py_DECREF(v);
        return x;
    }
    case R_COUNT_DISTINCT: {
        PyObject *d = item(ks, F_DIST, r->c);
        if (d == NULL) return NULL;
        Py_ssize_t len = PyObject_Size(d);
        Py_DECREF(d);
        return len < 0 ? NULL : PyLong_FromSsize_t(len);
    }
    case R_COUNT_MATCHED:
        return item(ks, F_NN, r->c);
    case R_LAST:
    case R_TIME_SINCE_MATCHED: {
        if ((n = item(ks, F_NN, r->c)) == NULL) return NULL;
        int truth = PyObject_IsTrue(n);
        Py_DECREF(n);
        if (truth <= 0) { if (truth < 0) return NULL; Py_RETURN_NONE; }
        PyObject *ents = get_field(ks, F_ENTS);
        if (ents == NULL || get_ll(ks, F_WS, &ws) < 0 || get_ll(ks, F_WE, &we) < 0) return NULL;
        if (!PyList_Check(ents)) { PyErr_SetString(PyExc_TypeError, "KeyState.ents must be a list"); return NULL; }
        v = latest(ents, ws, we, r->pos);
        if (v == NULL || r->code == R_LAST) return v;
        x = since(tobj, v);
        Py_DECREF(v);
        return x;
    }
    case R_TIME_SINCE_LAST: {
        PyObject *ents = get_field(ks, F_ENTS);
        if (ents == NULL || get_ll(ks, F_WS, &ws) < 0 || get_ll(ks, F_WE, &we) < 0) return NULL;
        if (we <= ws) Py_RETURN_NONE;
        if (!PyList_Check(ents) || we - 1 >= PyList_GET_SIZE(ents)) {
            PyErr_SetString(PyExc_IndexError, "window end past the entries");
            return NULL;
        }
        PyObject *ent = PyList_GET_ITEM(ents, we - 1);
        if (!PyTuple_Check(ent) || PyTuple_GET_SIZE(ent) < 1) {
            PyErr_SetString(PyExc_TypeError, "an entry must be a non-empty tuple");
            return NULL;
        }
        return since(tobj, PyTuple_GET_ITEM(ent, 0));
    }
    }
    PyErr_SetString(PyExc_ValueError, "unknown read");
    return NULL;
}

/* Why: the collector's young-generation passes walked every new entry tuple and, once promoted, every
   long-lived entries list (each item's header read: a cache miss per entry). An entry holds event values
   (numbers, strings, None) and an entries list holds entries only, so neither can be part of a reference
   cycle; untracking them is what CPython does itself for such tuples at their first collection, done at
   once (and for the list, which CPython never untracks). Values stay alive by their reference counts. */
static inline int atomic_value(PyObject *v) {
    return v == Py_None || PyLong_CheckExact(v) || PyFloat_CheckExact(v) || PyUnicode_CheckExact(v) || PyBool_Check(v);
}

static void untrack_entries(PyObject *ents, PyObject *ent) {
    if (PyList_CheckExact(ents) && PyObject_GC_IsTracked(ents)) PyObject_GC_UnTrack(ents);
    if (!PyTuple_CheckExact(ent) || !PyObject_GC_IsTracked(ent)) return;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ent); i++) {
        if (!atomic_value(PyTuple_GET_ITEM(ent, i))) return;
    }
    PyObject_GC_UnTrack(ent);
}

/* the event's entry joins the group: appended to the shared entries, then each window (lag 0: at its
   end; with a lag: when the window reaches it, so only its due moves) */
static int group_insert(GroupObject *g, PyObject **states, PyObject *ent, long long t) {
    PyObject *ents = get_field(states[g->nwin - 1], F_ENTS);
    if (ents == NULL || PyList_Append(ents, ent) < 0) return -1;
    untrack_entries(ents, ent);
    for (Py_ssize_t i = 0; i < g->nwin; i++) {
        WindowObject *w = g->windows[i];
        PyObject *ks = states[i];
        long long we, due;
        if (w->lag == 0) {
            if (update_entry(w, ks, ent, 0) < 0 || get_ll(ks, F_WE, &we) < 0 || set_ll(ks, F_WE, we + 1) < 0) return -1;
            set_ll(ks, F_NOW, t);
            if (get_ll(ks, F_DUE, &due) < 0) return -1;
            if (due == far_due && set_ll(ks, F_DUE, t + w->window) < 0) return -1;
        } else {
            if (get_ll(ks, F_DUE, &due) < 0) return -1;
            if (due > t + w->lag && set_ll(ks, F_DUE, t + w->lag) < 0) return -1;
        }
    }
    return 0;
}

#define MAX_WINDOWS 16

/* run(ks, t, ent, reads): slide every window due, insert ``ent`` (None: nothing to insert) before or
   after the reads as include_current says; the values as a tuple in the group's read order (reads
   false: update only, None) */
static PyObject *group_run(GroupObject *g, PyObject *ks, PyObject *tobj, PyObject *ent, int reads) {
    if (check_state(ks) < 0) return NULL;
    long long t = as_ll(tobj);
    if (t == -1 && PyErr_Occurred()) return NULL;
    if (ent != Py_None && !PyTuple_Check(ent)) {
        PyErr_SetString(PyExc_TypeError, "an entry must be a tuple");
        return NULL;
    }
    PyObject *states[MAX_WINDOWS];
    PyObject *sibs = get_field(ks, F_SIBS);
    if (sibs == NULL) return NULL;
    if (!PyTuple_Check(sibs) || PyTuple_GET_SIZE(sibs) != g->nwin - 1) {
        PyErr_SetString(PyExc_ValueError, "KeyState.sibs does not match the group's windows");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < g->nwin - 1; i++) {
        states[i] = PyTuple_GET_ITEM(sibs, i);
        if (check_state(states[i]) < 0) return NULL;
    }
    states[g->nwin - 1] = ks;
    Py_INCREF(sibs);  /* the states stay alive while the group runs */
    PyObject *out = NULL;
    for (Py_ssize_t i = 0; i < g->nwin; i++) {
        long long due;
        if (get_ll(states[i], F_DUE, &due) < 0) goto fail;
        if (t >= due && slide(g->windows[i], states[i], tobj) < 0) goto fail;
    }
    if (ent != Py_None && g->include_current && group_insert(g, states, ent, t) < 0) goto fail;
    if (reads) {
        out = PyTuple_New(g->nout);
        if (out == NULL) goto fail;
        Py_ssize_t k = 0;
        for (Py_ssize_t i = 0; i < g->nwin; i++) {
            for (Py_ssize_t j = 0; j < g->nreads[i]; j++) {
                PyObject *v = read_one(g, i, &g->reads[i][j], states[i], tobj);
                if (v == NULL) goto fail;
                PyTuple_SET_ITEM(out, k++, v);
            }
        }
    }
    if (ent != Py_None && !g->include_current && group_insert(g, states, ent, t) < 0) goto fail;
    Py_DECREF(sibs);
    if (out == NULL) Py_RETURN_NONE;
    return out;
fail:
    Py_DECREF(sibs);
    Py_XDECREF(out);
    return NULL;
}

static PyObject *Group_run(GroupObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "run(ks, t, ent) takes 3 arguments");
        return NULL;
    }
    return group_run(self, args[0], args[1], args[2], 1);
}

static PyObject *Group_feed(GroupObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "feed(ks, t, ent) takes 3 arguments");
        return NULL;
    }
    return group_run(self, args[0], args[1], args[2], 0);
}

static void Group_clear_arrays(GroupObject *self) {
    for (Py_ssize_t i = 0; i < self->nwin; i++) {
        if (self->windows) Py_XDECREF(self->windows[i]);
        if (self->columns) Py_XDECREF(self->columns[i]);
        if (self->reads) PyMem_Free(self->reads[i]);
    }
    PyMem_Free(self->windows);
    PyMem_Free(self->columns);
    PyMem_Free(self->reads);
    PyMem_Free(self->nreads);
    self->windows = NULL;
    self->columns = NULL;
    self->reads = NULL;
    self->nreads = NULL;
    self->nwin = 0;
}

/* Group(windows, include_current, rebuild): windows, shortest first, each (Window, columns, reads)
   with reads ((code, column, pos), ...) in output order */
static int Group_init(GroupObject *self, PyObject *args, PyObject *kwds) {
    PyObject *windows, *rebuild;
    int include_current;
    static char *kwlist[] = {"windows", "include_current", "rebuild", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OpO", kwlist, &windows, &include_current, &rebuild)) return -1;
    PyObject *seq = PySequence_Fast(windows, "windows must be a sequence");
    if (seq == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > MAX_WINDOWS) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "a group has 1 to %d windows", MAX_WINDOWS);
        return -1;
    }
    Group_clear_arrays(self);
    self->windows = PyMem_Calloc(n, sizeof(WindowObject *));
    self->columns = PyMem_Calloc(n, sizeof(PyObject *));
    self->reads = PyMem_Calloc(n, sizeof(Read *));
    self->nreads = PyMem_Calloc(n, sizeof(Py_ssize_t));
    if (!self->windows || !self->columns || !self->reads || !self->nreads) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    self->nwin = n;
    self->nout = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *win, *cols, *reads;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "O!OO;a window is (Window, columns, reads)",
                              &WindowType, &win, &cols, &reads)) goto fail;
        Py_INCREF(win);
        self->windows[i] = (WindowObject *)win;
        Py_INCREF(cols);
        self->columns[i] = cols;
        PyObject *rs = PySequence_Fast(reads, "reads must be a sequence");
        if (rs == NULL) goto fail;
        Py_ssize_t m = PySequence_Fast_GET_SIZE(rs);
        self->reads[i] = PyMem_Calloc(m ? m : 1, sizeof(Read));
        if (self->reads[i] == NULL) { Py_DECREF(rs); PyErr_NoMemory(); goto fail; }
        self->nreads[i] = m;
        for (Py_ssize_t j = 0; j < m; j++) {
            Read *r = &self->reads[i][j];
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(rs, j), "inn;a read is (code, column, pos)",
                                  &r->code, &r->c, &r->pos)) { Py_DECREF(rs); goto fail; }
            if (r->code < R_COUNT || r->code > R_TIME_SINCE_MATCHED) {
                Py_DECREF(rs);
                PyErr_Format(PyExc_ValueError, "unknown read code %d", r->code);
                goto fail;
            }
        }
        Py_DECREF(rs);
        self->nout += m;
    }
    Py_DECREF(seq);
    Py_INCREF(rebuild);
    Py_XSETREF(self->rebuild, rebuild);
    self->include_current = include_current;
    return 0;
fail:
    Py_DECREF(seq);
    Group_clear_arrays(self);
    return -1;
}

static void Group_dealloc(GroupObject *self) {
    Group_clear_arrays(self);
    Py_XDECREF(self->rebuild);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Group_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Group_run, METH_FASTCALL,
     "run(ks, t, ent): slide the windows, read every feature (a tuple) and insert ent (None: no insert)."},
    {"feed", (PyCFunction)(void (*)(void))Group_feed, METH_FASTCALL,
     "feed(ks, t, ent): as run, without the reads (the update-only step)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject GroupType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "finrisk.features._online_kernel.Group",
    .tp_basicsize = sizeof(GroupObject),
    .tp_dealloc = (destructor)Group_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Group(windows, include_current, rebuild): one state group's in-order step, compiled.",
    .tp_methods = Group_methods,
    .tp_init = (initproc)Group_init,
    .tp_new = PyType_GenericNew,
};

/* ---- the event time in µs ---- */

static PyObject *epochs = NULL, *to_us = NULL, *micro = NULL; /* _online_group.EPOCHS, to_us, 1 µs */

/* µs from 0001-01-01 of a datetime's fields, as if naive (days by the proleptic Gregorian calendar) */
static long long naive_us(PyObject *dt) {
    static const int before[13] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    long long y = PyDateTime_GET_YEAR(dt) - 1;
    int m = PyDateTime_GET_MONTH(dt);
    long long days = y * 365 + y / 4 - y / 100 + y / 400 + before[m] + PyDateTime_GET_DAY(dt);
    long long leap = (y + 1) % 4 == 0 && ((y + 1) % 100 != 0 || (y + 1) % 400 == 0);
    if (m > 2) days += leap;
    long long secs = days * 86400 + PyDateTime_DATE_GET_HOUR(dt) * 3600 + PyDateTime_DATE_GET_MINUTE(dt) * 60 +
                     PyDateTime_DATE_GET_SECOND(dt);
    return secs * 1000000 + PyDateTime_DATE_GET_MICROSECOND(dt);
}

/* event_us(when): OnlineFeatureEngine.values's ``(when - EPOCHS[when.tzinfo]) // MICRO`` (else
   ``to_us(when)``), without the timedelta and its big-integer floor division (3% of the engine's time,
   py-spy, round 3): two datetimes with the same tzinfo object subtract as naive ones, so the
   difference of their fields' µs is the exact result. Any other case goes the Python way. */
static PyObject *event_us(PyObject *module, PyObject *when) {
    if (epochs == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "call bind_time(EPOCHS, to_us) first");
        return NULL;
    }
    if (PyDateTime_CheckExact(when)) {
        PyObject *tz = PyDateTime_DATE_GET_TZINFO(when);
        PyObject *epoch = PyDict_GetItemWithError(epochs, tz);
        if (epoch == NULL && PyErr_Occurred()) return NULL;
        if (epoch != NULL) {
            if (PyDateTime_CheckExact(epoch) && PyDateTime_DATE_GET_TZINFO(epoch) == tz)
                return PyLong_FromLongLong(naive_us(when) - naive_us(epoch));
            PyObject *delta = PyNumber_Subtract(when, epoch);
            if (delta == NULL) return NULL;
            PyObject *us = PyNumber_FloorDivide(delta, micro);
            Py_DECREF(delta);
            return us;
        }
    }
    return PyObject_CallOneArg(to_us, when);
}

static PyObject *bind_time(PyObject *module, PyObject *args) {
    PyObject *e, *f;
    if (!PyArg_ParseTuple(args, "O!O", &PyDict_Type, &e, &f)) return NULL;
    Py_INCREF(e);
    Py_XSETREF(epochs, e);
    Py_INCREF(f);
    Py_XSETREF(to_us, f);
    Py_RETURN_NONE;
}

/* sweep_keys(pending, budget, states, records, index, width, horizon): WindowGroup.sweep's walk of one
   single-key group (Slot.drop inline): for the last ``budget`` keys of ``pending``, a state whose newest
   entry is at or before ``horizon`` (or that has none) leaves ``states`` and its ``width`` slots of the
   entity record from ``index`` on become None (the record leaves ``records`` when all its slots are);
   then those keys leave ``pending``. Why: it runs on every event, about 15 interpreter operations a key
   (5-6% of the engine's time, py-spy, round 3). */
static PyObject *sweep_keys(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "sweep_keys(pending, budget, states, records, index, width, horizon) "
                        "takes 7 arguments");
        return NULL;
    }
    PyObject *pending = args[0], *states = args[2], *records = args[3];
    if (!PyList_CheckExact(pending) || !PyDict_CheckExact(states) || !PyDict_CheckExact(records)) {
        PyErr_SetString(PyExc_TypeError, "sweep_keys: pending must be a list, states and records dicts");
        return NULL;
    }
    Py_ssize_t budget = PyLong_AsSsize_t(args[1]), index = PyLong_AsSsize_t(args[4]),
               width = PyLong_AsSsize_t(args[5]);
    long long horizon = as_ll(args[6]);
    if (PyErr_Occurred()) return NULL;
    if (budget < 1 || index < 0 || width < 1) {
        PyErr_SetString(PyExc_ValueError, "sweep_keys: budget >= 1, index >= 0, width >= 1");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(pending), start = n > budget ? n - budget : 0;
    for (Py_ssize_t i = start; i < n && i < PyList_GET_SIZE(pending); i++) {
        PyObject *key = Py_NewRef(PyList_GET_ITEM(pending, i));
        PyObject *ks = PyDict_GetItemWithError(states, key);
        if (ks == NULL) {
            Py_DECREF(key);
            if (PyErr_Occurred()) return NULL;
            continue;
        }
        if (check_state(ks) < 0) { Py_DECREF(key); return NULL; }
        PyObject *ents = get_field(ks, F_ENTS);
        if (ents == NULL || !PyList_Check(ents)) {
            if (ents != NULL) PyErr_SetString(PyExc_TypeError, "KeyState.ents must be a list");
            Py_DECREF(key);
            return NULL;
        }
        Py_ssize_t len = PyList_GET_SIZE(ents);
        long long newest = 0;
        if (len && placement(PyList_GET_ITEM(ents, len - 1), &newest) < 0) { Py_DECREF(key); return NULL; }
        if (len && newest > horizon) { Py_DECREF(key); continue; }
        PyObject *rec = PyDict_GetItemWithError(records, key);
        if (rec == NULL || !PyList_CheckExact(rec) || index + width > PyList_GET_SIZE(rec)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "sweep_keys: no entity record of the width");
            Py_DECREF(key);
            return NULL;
        }
        Py_INCREF(rec);
        int rc = PyDict_DelItem(states, key);
        for (Py_ssize_t j = index; rc == 0 && j < index + width; j++) rc = PyList_SetItem(rec, j, Py_NewRef(Py_None));
        int empty = 1;
        for (Py_ssize_t j = 0; rc == 0 && j < PyList_GET_SIZE(rec); j++) empty &= PyList_GET_ITEM(rec, j) == Py_None;
        if (rc == 0 && empty) rc = PyDict_DelItem(records, key);
        Py_DECREF(rec);
        Py_DECREF(key);
        if (rc < 0) return NULL;
    }
    if (PyList_SetSlice(pending, start, PyList_GET_SIZE(pending), NULL) < 0) return NULL;
    Py_RETURN_NONE;
}

/* untracked(obj): ``obj`` (a list or a tuple), untracked from the collector with the deques, lists and
   tuples directly in it (see untrack): for a state's containers when they are made (its shorter windows'
   states, its distinct-value dicts' tuple, its extremes' list and deques) and an entity record. Done once
   where they are made, not at each compiled call (that reads each container's collector header again).
   Only for containers that cannot be part of a reference cycle. */
static PyObject *untracked(PyObject *module, PyObject *obj) {
    if (!PyList_CheckExact(obj) && !PyTuple_CheckExact(obj)) {
        PyErr_Format(PyExc_TypeError, "untracked takes a state's container (a list or a tuple), not %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    untrack(obj);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
    PyObject **items = PySequence_Fast_ITEMS(obj);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = items[i];
        if (PyList_CheckExact(o) || PyTuple_CheckExact(o) || strcmp(Py_TYPE(o)->tp_name, "collections.deque") == 0)
            untrack(o);
    }
    return Py_NewRef(obj);
}

static PyObject *bind(PyObject *module, PyObject *args) {
    PyObject *scale_obj;
    long long far;
    if (!PyArg_ParseTuple(args, "O!L", &PyFloat_Type, &scale_obj, &far)) return NULL;
    Py_INCREF(scale_obj);
    Py_XSETREF(scale, scale_obj);
    far_due = far;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"bind", bind, METH_VARARGS, "bind(SCALE, FAR): the constants of _online_state."},
    {"bind_time", bind_time, METH_VARARGS, "bind_time(EPOCHS, to_us): what event_us reads and falls back to."},
    {"sweep_keys", (PyCFunction)(void (*)(void))sweep_keys, METH_FASTCALL,
     "sweep_keys(pending, budget, states, records, index, width, horizon): one step of a group's expiry sweep."},
    {"untracked", untracked, METH_O, "untracked(obj): a state's container or an entity record, untracked from the collector."},
    {"event_us", event_us, METH_O, "event_us(when): the event time in µs since the epoch, as values() computes it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_online_kernel",
    "Compiled slide and push of one window of the online feature engine (see _online_native).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__online_kernel(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    micro = PyDelta_FromDSU(0, 0, 1);
    if (micro == NULL) return NULL;
    if (PyType_Ready(&StateType) < 0 || PyType_Ready(&WindowType) < 0 || PyType_Ready(&GroupType) < 0 ||
        PyType_Ready(&ExactType) < 0)
        return NULL;
    inv_scale = PyFloat_FromDouble(1.0 / 18446744073709551616.0);
    inv_scale2 = PyFloat_FromDouble((1.0 / 18446744073709551616.0) * (1.0 / 18446744073709551616.0));
    million = PyLong_FromLong(1000000);
    if (inv_scale == NULL || inv_scale2 == NULL || million == NULL) return NULL;
    str_pop = PyUnicode_InternFromString("pop");
    str_popleft = PyUnicode_InternFromString("popleft");
    str_append = PyUnicode_InternFromString("append");
    one = PyLong_FromLong(1);
    if (str_pop == NULL || str_popleft == NULL || str_append == NULL || one == NULL) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    Py_INCREF(&WindowType);
    if (PyModule_AddObject(m, "Window", (PyObject *)&WindowType) < 0) {
        Py_DECREF(&WindowType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&StateType);
    if (PyModule_AddObject(m, "State", (PyObject *)&StateType) < 0) {
        Py_DECREF(&StateType);
        Py_DECREF(m);
        return NULL;
    }
    /* the interface version _online_native expects (a stale build is not used) */
    Py_INCREF(&ExactType);
    if (PyModule_AddObject(m, "Exact", (PyObject *)&ExactType) < 0) {
        Py_DECREF(&ExactType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "API", 3) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_WINDOWS", MAX_WINDOWS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&GroupType);
    if (PyModule_AddObject(m, "Group", (PyObject *)&GroupType) < 0) {
        Py_DECREF(&GroupType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
