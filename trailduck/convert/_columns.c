/*
 * The typed columns of a batch of raw CloudTrail records, built as Arrow buffers in one pass over the JSON.
 *
 * trailduck.convert.native describes the schema as a tree of nodes, passes the batch (one UTF-8 buffer and
 * int32 offsets, as in an Arrow string array) and gets back the buffers of every node in pre-order. The rules
 * are converter.py's Python path (the reference), for every record this module accepts:
 *   - a string column takes a string as it is (unescaped), and true, false or an integer as its JSON text;
 *   - a bool column takes true/false, and the strings "true"/"false" in any ASCII case; anything else is NULL;
 *   - a struct is NULL unless the value is an object, a list NULL unless it is an array; absent and null are
 *     NULL everywhere; of duplicate keys, the last wins;
 *   - a JSON-text column inside a struct takes the value's JSON text, a top-level one (requestParameters and
 *     friends) the raw bytes as delivered;
 *   - the time column takes strings only.
 * Where the reference would re-encode a value differently from its bytes (a float, "-0", whitespace or an
 * escape inside an object, an escaped key, a lone surrogate), the whole batch is refused and columns() returns
 * None: the caller converts it the reference way. The input has been validated as JSON and UTF-8 by msgspec
 * before it gets here, but every read is still bounds-checked: malformed input is refused, never trusted.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { K_STR = 0, K_JSON = 1, K_BOOL = 2, K_STRUCT = 3, K_LIST = 4, K_RAW = 5, K_TIME = 6 };

#define MAX_CHILDREN 64

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

typedef struct Node {
    int kind;
    int nchildren;
    struct Node *children;
    char **names;
    Py_ssize_t *name_lens;
    int hint; /* the child that matched last: keys usually come in the same order */
    Py_ssize_t length, nulls;
    Buf valid;   /* validity bitmap */
    Buf offsets; /* int32: strings and lists */
    Buf data;    /* string bytes, or the value bitmap of a bool */
} Node;

typedef struct {
    const char *p;
    const char *end;
} Span;

/* -- buffers ------------------------------------------------------------------------------------------- */

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        if (cap > PY_SSIZE_T_MAX / 2) return -1;
        cap *= 2;
    }
    char *p = PyMem_RawRealloc(b->p, (size_t)cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static int put_offset(Buf *b, Py_ssize_t value) {
    if (value > INT32_MAX) return -1;
    int32_t v = (int32_t)value;
    return buf_put(b, (const char *)&v, sizeof v);
}

/* Sets bit i of a bitmap that grows a byte at a time. */
static int put_bit(Buf *b, Py_ssize_t i, int bit) {
    if (i / 8 >= b->len) {
        if (buf_reserve(b, 1) < 0) return -1;
        b->p[b->len++] = 0;
    }
    if (bit) b->p[i / 8] |= (char)(1 << (i % 8));
    return 0;
}

/* -- the schema tree ----------------------------------------------------------------------------------- */

static void node_free(Node *n) {
    for (int i = 0; i < n->nchildren; i++) {
        node_free(&n->children[i]);
        PyMem_RawFree(n->names[i]);
    }
    PyMem_RawFree(n->children);
    PyMem_RawFree(n->names);
    PyMem_RawFree(n->name_lens);
    PyMem_RawFree(n->valid.p);
    PyMem_RawFree(n->offsets.p);
    PyMem_RawFree(n->data.p);
    memset(n, 0, sizeof *n);
}

/* spec: (kind, payload); payload is ((name, spec), ...) for a struct, the item's spec for a list, else None. */
static int node_init(Node *n, PyObject *spec, int depth) {
    memset(n, 0, sizeof *n);
    PyObject *payload;
    if (depth > 16 || !PyArg_ParseTuple(spec, "iO", &n->kind, &payload)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "schema nested too deep");
        return -1;
    }
    if (n->kind == K_STRUCT || n->kind == K_LIST) {
        PyObject *items = n->kind == K_LIST ? NULL : PySequence_Fast(payload, "struct fields must be a sequence");
        Py_ssize_t count = n->kind == K_LIST ? 1 : (items ? PySequence_Fast_GET_SIZE(items) : -1);
        if (count < 0 || count > MAX_CHILDREN) {
            Py_XDECREF(items);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "too many struct fields");
            return -1;
        }
        n->children = PyMem_RawCalloc((size_t)count, sizeof(Node));
        n->names = PyMem_RawCalloc((size_t)count, sizeof(char *));
        n->name_lens = PyMem_RawCalloc((size_t)count, sizeof(Py_ssize_t));
        if (!n->children || !n->names || !n->name_lens) {
            Py_XDECREF(items);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *child = payload;
            n->nchildren = (int)i + 1; /* so node_free frees what was made */
            if (items) {
                const char *name;
                Py_ssize_t len;
                if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(items, i), "s#O", &name, &len, &child)) {
                    Py_DECREF(items);
                    return -1;
                }
                n->names[i] = PyMem_RawMalloc((size_t)len + 1);
                if (!n->names[i]) {
                    Py_DECREF(items);
                    PyErr_NoMemory();
                    return -1;
                }
                memcpy(n->names[i], name, (size_t)len + 1);
                n->name_lens[i] = len;
            }
            if (node_init(&n->children[i], child, depth + 1) < 0) {
                Py_XDECREF(items);
                return -1;
            }
        }
        Py_XDECREF(items);
    } else if (n->kind < 0 || n->kind > K_TIME) {
        PyErr_SetString(PyExc_ValueError, "unknown node kind");
        return -1;
    }
    return put_offset(&n->offsets, 0) < 0 ? (PyErr_NoMemory(), -1) : 0;
}

/* -- reading JSON -------------------------------------------------------------------------------------- */

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at the opening quote; returns the byte after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end) {
    p++;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return NULL;
        /* An odd number of backslashes before the quote escapes it. */
        const char *b = q;
        while (b > p && b[-1] == '\\') b--;
        if ((q - b) % 2 == 0) return q + 1;
        p = q + 1;
    }
    return NULL;
}

/* Any value, without recursion; returns the byte after it, or NULL. */
static const char *skip_value(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' &&
               *p != '\r')
            p++;
        return p;
    }
    Py_ssize_t depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = skip_string(p, end);
            if (!p) return NULL;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (--depth == 0) return p + 1;
        }
        p++;
    }
    return NULL;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_u16(const char *p, const char *end, unsigned *out) {
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

/* The content of the string value s (quotes included), unescaped into out. */
static int unescape(Span s, Buf *out) {
    const char *p = s.p + 1, *end = s.end - 1;
    if (end < p) return -1;
    const char *bs = memchr(p, '\\', (size_t)(end - p));
    if (!bs) return buf_put(out, p, end - p);
    if (buf_reserve(out, end - p) < 0) return -1; /* unescaped text is never longer */
    while (p < end) {
        bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) return buf_put(out, p, end - p);
        if (buf_put(out, p, bs - p) < 0 || bs + 1 >= end) return -1;
        p = bs + 2;
        char c;
        switch (bs[1]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            unsigned cp;
            if (read_u16(p, end, &cp) < 0) return -1;
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return -1; /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || read_u16(p + 2, end, &lo) < 0 || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return -1;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            char u[4];
            int n;
            if (cp < 0x80) { u[0] = (char)cp; n = 1; }
            else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
            else if (cp < 0x10000) {
                u[0] = (char)(0xE0 | (cp >> 12));
                u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F));
                n = 3;
            } else {
                u[0] = (char)(0xF0 | (cp >> 18));
                u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[3] = (char)(0x80 | (cp & 0x3F));
                n = 4;
            }
            if (buf_put(out, u, n) < 0) return -1;
            continue;
        }
        default: return -1;
        }
        if (buf_put(out, &c, 1) < 0) return -1;
    }
    return 0;
}

/* A number the reference would print back byte for byte: an integer, not -0. */
static int canonical_int(const char *p, const char *end) {
    const char *start = p;
    if (p < end && *p == '-') p++;
    if (p >= end) return 0;
    if (*p == '0') return p + 1 == end && start == p;
    for (; p < end; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

/* A value whose bytes are what msgspec prints for it: no whitespace, no escapes, integers only. */
static int prints_as_is(Span v) {
    const char *p = v.p;
    while (p < v.end) {
        char c = *p;
        if (c == '"') {
            const char *q = skip_string(p, v.end);
            if (!q || memchr(p, '\\', (size_t)(q - p))) return 0;
            p = q;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const char *q = p;
            while (q < v.end && *q != ',' && *q != '}' && *q != ']') q++;
            if (!canonical_int(p, q)) return 0;
            p = q;
        } else if (c == 't' || c == 'f' || c == 'n') {
            /* a literal, validated upstream */
            while (p < v.end && *p >= 'a' && *p <= 'z') p++;
        } else if (c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':') {
            p++;
        } else {
            return 0; /* whitespace */
        }
    }
    return 1;
}

/* -- writing columns ----------------------------------------------------------------------------------- */

static int emit(Node *n, const char *vp, const char *ve);

static int emit_null(Node *n) {
    if (put_bit(&n->valid, n->length, 0) < 0) return -1;
    n->length++;
    n->nulls++;
    switch (n->kind) {
    case K_STRUCT:
        for (int i = 0; i < n->nchildren; i++)
            if (emit_null(&n->children[i]) < 0) return -1;
        return 0;
    case K_LIST:
        return put_offset(&n->offsets, n->children[0].length);
    case K_BOOL:
        return put_bit(&n->data, n->length - 1, 0);
    default:
        return put_offset(&n->offsets, n->data.len);
    }
}

static int emit_text(Node *n, const char *s, Py_ssize_t len) {
    if (buf_put(&n->data, s, len) < 0 || put_offset(&n->offsets, n->data.len) < 0) return -1;
    if (put_bit(&n->valid, n->length, 1) < 0) return -1;
    n->length++;
    return 0;
}

static int emit_valid(Node *n) {
    if (put_bit(&n->valid, n->length, 1) < 0) return -1;
    n->length++;
    return 0;
}

/* After an object member or array item ending at vend: 1 when a comma follows (*p moves past it), 0 when the
 * closing bracket follows and ends the value, -1 for anything else. */
static int after_member(const char **p, const char *vend, const char *end, char close) {
    const char *q = skip_ws(vend, end);
    if (q < end && *q == ',') {
        *p = skip_ws(q + 1, end);
        return 1;
    }
    if (q < end && *q == close && skip_ws(q + 1, end) == end) return 0;
    return -1;
}

static int find_child(Node *n, const char *key, Py_ssize_t len) {
    if (n->nchildren == 0) return -1;
    for (int k = 0; k < n->nchildren; k++) {
        int i = (n->hint + k) % n->nchildren;
        if (n->name_lens[i] == len && memcmp(n->names[i], key, (size_t)len) == 0) {
            n->hint = (i + 1) % n->nchildren;
            return i;
        }
    }
    return -1;
}

static int emit_struct(Node *n, const char *vp, const char *ve) {
    Span v = {vp, ve};
    Span spans[MAX_CHILDREN];
    memset(spans, 0, sizeof(Span) * (size_t)n->nchildren);
    const char *p = skip_ws(v.p + 1, v.end);
    if (p < v.end && *p == '}') {
        if (skip_ws(p + 1, v.end) != v.end) return -1;
    } else {
        for (;;) {
            if (p >= v.end || *p != '"') return -1;
            const char *q = skip_string(p, v.end);
            if (!q || memchr(p, '\\', (size_t)(q - p))) return -1; /* an escaped key: the reference's job */
            const char *key = p + 1;
            Py_ssize_t klen = q - 1 - key;
            p = skip_ws(q, v.end);
            if (p >= v.end || *p != ':') return -1;
            p = skip_ws(p + 1, v.end);
            const char *vend = skip_value(p, v.end);
            if (!vend || vend == p) return -1;
            int i = find_child(n, key, klen);
            if (i >= 0) {
                spans[i].p = p;
                spans[i].end = vend;
            }
            int more = after_member(&p, vend, v.end, '}');
            if (more < 0) return -1;
            if (!more) break;
        }
    }
    if (emit_valid(n) < 0) return -1;
    for (int i = 0; i < n->nchildren; i++) {
        int rc = spans[i].p ? emit(&n->children[i], spans[i].p, spans[i].end) : emit_null(&n->children[i]);
        if (rc < 0) return -1;
    }
    return 0;
}

static int emit_list(Node *n, const char *vp, const char *ve) {
    Span v = {vp, ve};
    Node *item = &n->children[0];
    const char *p = skip_ws(v.p + 1, v.end);
    if (p < v.end && *p == ']') {
        if (skip_ws(p + 1, v.end) != v.end) return -1;
    } else {
        for (;;) {
            const char *vend = skip_value(p, v.end);
            if (!vend || vend == p) return -1;
            if (emit(item, p, vend) < 0) return -1;
            int more = after_member(&p, vend, v.end, ']');
            if (more < 0) return -1;
            if (!more) break;
        }
    }
    if (put_offset(&n->offsets, item->length) < 0) return -1;
    return emit_valid(n);
}

static inline int is_literal(const char *p, const char *end, const char *word, size_t len) {
    return (size_t)(end - p) == len && memcmp(p, word, len) == 0;
}

static int emit_bool(Node *n, const char *vp, const char *ve) {
    Span v = {vp, ve};
    int value = -1;
    if (is_literal(v.p, v.end, "true", 4)) value = 1;
    else if (is_literal(v.p, v.end, "false", 5)) value = 0;
    else if (*v.p == '"') {
        Buf tmp = {0};
        if (unescape(v, &tmp) < 0) {
            PyMem_RawFree(tmp.p);
            return -1;
        }
        char low[5] = {0};
        if (tmp.len == 4 || tmp.len == 5) {
            for (Py_ssize_t i = 0; i < tmp.len; i++) {
                char c = tmp.p[i];
                low[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            if (tmp.len == 4 && memcmp(low, "true", 4) == 0) value = 1;
            if (tmp.len == 5 && memcmp(low, "false", 5) == 0) value = 0;
        }
        PyMem_RawFree(tmp.p);
    }
    if (value < 0) return emit_null(n);
    if (put_bit(&n->data, n->length, value) < 0) return -1;
    return emit_valid(n);
}

static int emit(Node *n, const char *vp, const char *ve) {
    Span v = {vp, ve};
    if (is_literal(v.p, v.end, "null", 4)) return emit_null(n);
    char c = *v.p;
    switch (n->kind) {
    case K_RAW:
        return emit_text(n, v.p, v.end - v.p);
    case K_STRUCT:
        return c == '{' ? emit_struct(n, v.p, v.end) : emit_null(n);
    case K_LIST:
        return c == '[' ? emit_list(n, v.p, v.end) : emit_null(n);
    case K_BOOL:
        return emit_bool(n, v.p, v.end);
    case K_TIME:
    case K_STR:
        if (c == '"') {
            if (unescape(v, &n->data) < 0 || put_offset(&n->offsets, n->data.len) < 0) return -1;
            return emit_valid(n);
        }
        if (n->kind == K_TIME) return emit_null(n);
        if (c != '{' && c != '[' && !is_literal(v.p, v.end, "true", 4) && !is_literal(v.p, v.end, "false", 5) &&
            !canonical_int(v.p, v.end))
            return -1; /* a float: the reference prints it its own way */
        /* objects, arrays and the rest print as their JSON text */
        /* fall through */
    case K_JSON:
        if (!prints_as_is(v)) return -1;
        return emit_text(n, v.p, v.end - v.p);
    default:
        return -1;
    }
}

/* -- the module ---------------------------------------------------------------------------------------- */

static PyObject *bytes_of(Buf *b, Py_ssize_t len) {
    return PyBytes_FromStringAndSize(b->p ? b->p : "", len);
}

/* Appends (length, null_count, validity or None, offsets or None, data or None) per node, in pre-order. */
static int collect(Node *n, PyObject *out) {
    PyObject *valid = n->nulls ? bytes_of(&n->valid, (n->length + 7) / 8) : Py_NewRef(Py_None);
    PyObject *offsets = (n->kind == K_STRUCT || n->kind == K_BOOL) ? Py_NewRef(Py_None)
                                                                  : bytes_of(&n->offsets, n->offsets.len);
    PyObject *data = n->kind == K_BOOL ? bytes_of(&n->data, (n->length + 7) / 8)
                     : (n->kind == K_STRUCT || n->kind == K_LIST) ? Py_NewRef(Py_None)
                                                                   : bytes_of(&n->data, n->data.len);
    if (n->kind == K_BOOL && n->data.len < (n->length + 7) / 8) {
        Py_XDECREF(data);
        data = NULL;
        PyErr_SetString(PyExc_RuntimeError, "bool bitmap short");
    }
    if (!valid || !offsets || !data) {
        Py_XDECREF(valid);
        Py_XDECREF(offsets);
        Py_XDECREF(data);
        return -1;
    }
    PyObject *t = Py_BuildValue("(nnNNN)", n->length, n->nulls, valid, offsets, data);
    if (!t || PyList_Append(out, t) < 0) {
        Py_XDECREF(t);
        return -1;
    }
    Py_DECREF(t);
    for (int i = 0; i < n->nchildren; i++)
        if (collect(&n->children[i], out) < 0) return -1;
    return 0;
}

static PyObject *columns(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *spec;
    Py_buffer text, offs;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "Oy*y*n", &spec, &text, &offs, &count)) return NULL;
    PyObject *result = NULL;
    Node root;
    int made = 0, refused = 0;
    const int32_t *off = offs.buf;
    if (count < 0 || offs.len < (Py_ssize_t)sizeof(int32_t) * (count + 1)) {
        PyErr_SetString(PyExc_ValueError, "offsets shorter than the record count");
        goto done;
    }
    made = 1; /* node_free copes with a half-made tree */
    if (node_init(&root, spec, 0) < 0) goto done;
    if (root.kind != K_STRUCT) {
        PyErr_SetString(PyExc_ValueError, "the root must be a struct");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count && !refused; i++) {
        int32_t a = off[i], b = off[i + 1];
        if (a < 0 || b < a || b > text.len) {
            refused = 1;
            break;
        }
        const char *p = (const char *)text.buf + a, *end = (const char *)text.buf + b;
        p = skip_ws(p, end);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r')) end--;
        Span v = {p, end};
        if (p >= end || *p != '{' || emit_struct(&root, v.p, v.end) < 0) refused = 1;
    }
    Py_END_ALLOW_THREADS
    if (refused) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    result = PyList_New(0);
    if (result && collect(&root, result) < 0) Py_CLEAR(result);
done:
    if (made) node_free(&root);
    PyBuffer_Release(&text);
    PyBuffer_Release(&offs);
    return result;
}

/* The index of the first record that is not a JSON object, or -1. */
static PyObject *first_non_object(PyObject *self, PyObject *records) {
    (void)self;
    PyObject *seq = PySequence_Fast(records, "records must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), found = -1;
    for (Py_ssize_t i = 0; i < n && found < 0; i++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &view, PyBUF_SIMPLE) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
        const char *p = skip_ws(view.buf, (const char *)view.buf + view.len);
        if (p >= (const char *)view.buf + view.len || *p != '{') found = i;
        PyBuffer_Release(&view);
    }
    Py_DECREF(seq);
    return PyLong_FromSsize_t(found);
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS,
     "columns(spec, text, offsets, count) -> list of (length, nulls, validity, offsets, data) or None"},
    {"first_non_object", first_non_object, METH_O, "The index of the first record not a JSON object, or -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_columns", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__columns(void) { return PyModule_Create(&module); }
