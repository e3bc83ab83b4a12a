/* traces._rowpack: trace row values packed into typed buffers as they are added.

A traced simulation adds one row per engine op and DMA. Kept as a flat list of Python
objects, each row's values are then pickled one by one for the writer process (~160
instructions a value) and freed. A RowPacker keeps them instead as one tag byte and
eight payload bytes each: an exact int that fits 64 bits, a float, None, or (tag
OBJECT) the index of any other value in a side list. ``take()`` hands them over as
two bytes objects, which pickle as one copy; the writer process decodes them a column
at a time with numpy (traces/packed_rows.py), into exactly the values that went in.

The API is what the writers use of their flat list and appender: ``packer(*values)``
(extend, then call ``full()`` once ``limit`` values or more are held), ``extend``,
``len``, plus ``take``. Built with the compiled modules (simulator/hw/native.py); where
it is not built, the writers keep their flat lists (the same rows).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "structmember.h"

/* Tags: the kind of each value (traces/packed_rows.py reads the same numbers). */
enum { TAG_NONE = 0, TAG_INT = 1, TAG_FLOAT = 2, TAG_OBJECT = 3 };

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Py_ssize_t n_values;  /* values held */
    Py_ssize_t capacity;  /* values the buffers have room for */
    Py_ssize_t limit;     /* values at which a call calls full() */
    unsigned char *tags;  /* one tag per value */
    int64_t *payload;     /* one int64, double (its bits) or object index per value */
    PyObject *objects;    /* list: the values of tag OBJECT, in order */
    PyObject *full;       /* called with no arguments once limit is reached, or None */
} RowPacker;

static int
reserve(RowPacker *self, Py_ssize_t more)
{
    Py_ssize_t needed = self->n_values + more;
    if (needed <= self->capacity) {
        return 0;
    }
    Py_ssize_t capacity = self->capacity * 2;
    if (capacity < needed) {
        capacity = needed;
    }
    if (capacity < 1024) {
        capacity = 1024;
    }
    unsigned char *tags = PyMem_Realloc(self->tags, (size_t)capacity);
    if (tags == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->tags = tags;
    int64_t *payload = PyMem_Realloc(self->payload, (size_t)capacity * sizeof(int64_t));
    if (payload == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->payload = payload;
    self->capacity = capacity;
    return 0;
}

/* An int of one digit (|value| < 2**30) read from the object itself: most ids, sizes
   and keys are, and the general conversion costs more than the rest of a value's
   packing. Returns 0 for a larger int. */
static inline int
small_int(PyObject *value, long long *number)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)value)) {
        *number = (long long)PyUnstable_Long_CompactValue((PyLongObject *)value);
        return 1;
    }
#else
    Py_ssize_t size = Py_SIZE(value);
    if (size >= -1 && size <= 1) {  /* digit 0 is allocated even for 0 (size 0) */
        *number = (long long)size * (long long)((PyLongObject *)value)->ob_digit[0];
        return 1;
    }
#endif
    return 0;
}

/* Pack one value at n_values (room reserved). Only exact ints and floats are packed
   as numbers: a bool, an int subclass or a numpy scalar keeps its type as an object. */
static int
pack(RowPacker *self, PyObject *value)
{
    Py_ssize_t at = self->n_values;
    PyTypeObject *type = Py_TYPE(value);
    if (type == &PyFloat_Type) {
        double number = PyFloat_AS_DOUBLE(value);
        memcpy(&self->payload[at], &number, sizeof(double));
        self->tags[at] = TAG_FLOAT;
    }
    else if (type == &PyLong_Type) {
        long long number;
        if (!small_int(value, &number)) {
            int overflow = 0;
            number = PyLong_AsLongLongAndOverflow(value, &overflow);
            if (overflow != 0) {
                goto object;
            }
            if (number == -1 && PyErr_Occurred()) {
                return -1;
            }
        }
        self->payload[at] = (int64_t)number;
        self->tags[at] = TAG_INT;
    }
    else if (value == Py_None) {
        self->payload[at] = 0;
        self->tags[at] = TAG_NONE;
    }
    else {
        goto object;
    }
    self->n_values = at + 1;
    return 0;
object:
    self->payload[at] = (int64_t)PyList_GET_SIZE(self->objects);
    if (PyList_Append(self->objects, value) < 0) {
        return -1;
    }
    self->tags[at] = TAG_OBJECT;
    self->n_values = at + 1;
    return 0;
}

static int
pack_all(RowPacker *self, PyObject *const *values, Py_ssize_t n)
{
    if (reserve(self, n) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (pack(self, values[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* packer(*values): the hot path, one call per trace row. */
static PyObject *
packer_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    RowPacker *self = (RowPacker *)callable;
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
        PyErr_SetString(PyExc_TypeError, "RowPacker() takes row values positionally only");
        return NULL;
    }
    if (pack_all(self, args, PyVectorcall_NARGS(nargsf)) < 0) {
        return NULL;
    }
    /* full is NULL once deleted (del packer.full): then, as for None, nothing to call */
    if (self->n_values >= self->limit && self->full != NULL && self->full != Py_None) {
        PyObject *result = PyObject_CallNoArgs(self->full);
        if (result == NULL) {
            return NULL;
        }
        Py_DECREF(result);
    }
    Py_RETURN_NONE;
}

static PyObject *
packer_extend(RowPacker *self, PyObject *iterable)
{
    PyObject *sequence = PySequence_Fast(iterable, "RowPacker.extend() takes a sequence");
    if (sequence == NULL) {
        return NULL;
    }
    int failed = pack_all(self, PySequence_Fast_ITEMS(sequence), PySequence_Fast_GET_SIZE(sequence));
    Py_DECREF(sequence);
    if (failed) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
packer_take(RowPacker *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *objects = PyList_New(0);
    if (objects == NULL) {
        return NULL;
    }
    Py_ssize_t n = self->n_values;
    PyObject *tags = PyBytes_FromStringAndSize((const char *)self->tags, n);
    PyObject *payload = PyBytes_FromStringAndSize((const char *)self->payload,
                                                  n * (Py_ssize_t)sizeof(int64_t));
    if (tags == NULL || payload == NULL) {
        Py_XDECREF(tags);
        Py_XDECREF(payload);
        Py_DECREF(objects);
        return NULL;
    }
    PyObject *taken = Py_BuildValue("(nNNO)", n, tags, payload, self->objects);
    if (taken == NULL) {
        Py_DECREF(objects);
        return NULL;
    }
    Py_SETREF(self->objects, objects);
    self->n_values = 0;
    return taken;
}

static PyObject *
packer_clear(RowPacker *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *objects = PyList_New(0);
    if (objects == NULL) {
        return NULL;
    }
    Py_SETREF(self->objects, objects);
    self->n_values = 0;
    Py_RETURN_NONE;
}

static Py_ssize_t
packer_length(RowPacker *self)
{
    return self->n_values;
}

static int
packer_init(RowPacker *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"limit", "full", NULL};
    Py_ssize_t limit = PY_SSIZE_T_MAX;
    PyObject *full = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|nO:RowPacker", keywords, &limit, &full)) {
        return -1;
    }
    self->limit = limit;
    Py_INCREF(full);
    Py_XSETREF(self->full, full);
    if (self->objects == NULL && (self->objects = PyList_New(0)) == NULL) {
        return -1;
    }
    return 0;
}

static PyObject *
packer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    RowPacker *self = (RowPacker *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = packer_vectorcall;
    self->limit = PY_SSIZE_T_MAX;
    Py_INCREF(Py_None);
    self->full = Py_None;
    return (PyObject *)self;
}

static int
packer_traverse(RowPacker *self, visitproc visit, void *arg)
{
    Py_VISIT(self->objects);
    Py_VISIT(self->full);
    return 0;
}

static int
packer_gc_clear(RowPacker *self)
{
    Py_CLEAR(self->objects);
    Py_CLEAR(self->full);
    return 0;
}

static void
packer_dealloc(RowPacker *self)
{
    PyObject_GC_UnTrack(self);
    packer_gc_clear(self);
    PyMem_Free(self->tags);
    PyMem_Free(self->payload);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef packer_methods[] = {
    {"extend", (PyCFunction)packer_extend, METH_O,
     "extend(values): add the values of a sequence (full() is not called)."},
    {"take", (PyCFunction)packer_take, METH_NOARGS,
     "take() -> (n_values, tags, payload, objects): the values held, as bytes of one tag "
     "each and bytes of eight each, and the list of object values; empties the packer."},
    {"clear", (PyCFunction)packer_clear, METH_NOARGS, "clear(): drop the values held."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef packer_members[] = {
    {"limit", T_PYSSIZET, offsetof(RowPacker, limit), 0,
     "values at which a call calls full()"},
    {"full", T_OBJECT_EX, offsetof(RowPacker, full), 0,
     "called with no arguments once a call leaves limit values or more (None: never)"},
    {NULL, 0, 0, 0, NULL},
};

static PySequenceMethods packer_as_sequence = {
    .sq_length = (lenfunc)packer_length,
};

static PyTypeObject RowPackerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "traces._rowpack.RowPacker",
    .tp_doc = PyDoc_STR(
        "RowPacker(limit=..., full=None): trace row values in typed buffers; "
        "packer(*values) adds a row's values and calls full() at limit values."),
    .tp_basicsize = sizeof(RowPacker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = packer_new,
    .tp_init = (initproc)packer_init,
    .tp_dealloc = (destructor)packer_dealloc,
    .tp_traverse = (traverseproc)packer_traverse,
    .tp_clear = (inquiry)packer_gc_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(RowPacker, vectorcall),
    .tp_methods = packer_methods,
    .tp_members = packer_members,
    .tp_as_sequence = &packer_as_sequence,
};

static struct PyModuleDef rowpack_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "traces._rowpack",
    .m_doc = "Trace row values packed into typed buffers (see traces/packed_rows.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__rowpack(void)
{
    if (PyType_Ready(&RowPackerType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&rowpack_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&RowPackerType);
    if (PyModule_AddObject(module, "RowPacker", (PyObject *)&RowPackerType) < 0) {
        Py_DECREF(&RowPackerType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
