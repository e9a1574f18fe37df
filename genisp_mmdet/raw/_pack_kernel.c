/* Fused Bayer packing kernel for genisp_mmdet.raw.packing.pack_bayer.
 *
 * One pass over a uint16 mosaic: per 2x2 cell, clip each photosite to [its black level,
 * white], subtract the black level, bring the second green to the first green's span, sum
 * the greens, then either divide by the spans (camera RGB) or apply the colour matrix
 * (which already holds that division), writing three float32 planes.
 *
 * The NumPy implementation in packing.py does the same in several passes over cache-sized
 * bands (slower: docs/benchmarks.md measures both). It is the reference and the fallback when
 * this module was not compiled; tests compare the two. The arithmetic follows it step by step in
 * float32 without fused multiply-adds (setup.py builds with -ffp-contract=off), so camera
 * RGB outputs are bit-identical; with a matrix the NumPy path's BLAS may round the 3-term
 * sums differently, by an ulp.
 *
 * Inputs arrive through the buffer protocol (shape, strides and format checked here), so a
 * wrong call raises instead of reading out of bounds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER)
#define RESTRICT __restrict
#else
#define RESTRICT __restrict__
#endif

/* Bumped whenever the Python-facing signature or semantics change, so packing.py ignores a
 * stale build of this file left in a source tree. */
#define KERNEL_ABI 1

typedef struct {
    Py_ssize_t offset[4];  /* element offset of R, G1, B, G2 inside a cell (y * row + x) */
    uint16_t low[4];       /* clip floor per site (its black level) */
    uint16_t high;         /* clip ceiling (white level) */
    float black[4];        /* black level per site, as float32 */
    float green2_scale;    /* G2 span -> G1 span (1 when equal) */
    int has_matrix;
    float matrix[9];       /* row-major, per-channel division folded in */
    float divisor[3];      /* camera RGB: R span, 2 * G1 span, B span */
    int clamp_green;       /* camera RGB with rescaled G2: clamp G to 1 */
} PackParams;

static inline uint16_t clip_u16(uint16_t v, uint16_t lo, uint16_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

static void pack_rows(const uint16_t *RESTRICT mosaic, Py_ssize_t row_stride, Py_ssize_t h2,
                      Py_ssize_t w2, const PackParams *p, float *RESTRICT out) {
    const Py_ssize_t plane = h2 * w2;
    const uint16_t l0 = p->low[0], l1 = p->low[1], l2 = p->low[2], l3 = p->low[3], hi = p->high;
    const float b0 = p->black[0], b1 = p->black[1], b2 = p->black[2], b3 = p->black[3];
    const float s3 = p->green2_scale;
    for (Py_ssize_t r = 0; r < h2; ++r) {
        const uint16_t *cell_row = mosaic + 2 * r * row_stride;
        const uint16_t *RESTRICT red = cell_row + p->offset[0];
        const uint16_t *RESTRICT green1 = cell_row + p->offset[1];
        const uint16_t *RESTRICT blue = cell_row + p->offset[2];
        const uint16_t *RESTRICT green2 = cell_row + p->offset[3];
        float *RESTRICT o0 = out + r * w2;
        float *RESTRICT o1 = o0 + plane;
        float *RESTRICT o2 = o1 + plane;
        if (p->has_matrix) {
            const float *m = p->matrix;
            const float m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5],
                        m6 = m[6], m7 = m[7], m8 = m[8];
            for (Py_ssize_t c = 0; c < w2; ++c) {
                const float R = (float)clip_u16(red[2 * c], l0, hi) - b0;
                const float g2 = ((float)clip_u16(green2[2 * c], l3, hi) - b3) * s3;
                const float G = ((float)clip_u16(green1[2 * c], l1, hi) - b1) + g2;
                const float B = (float)clip_u16(blue[2 * c], l2, hi) - b2;
                o0[c] = m0 * R + m1 * G + m2 * B;
                o1[c] = m3 * R + m4 * G + m5 * B;
                o2[c] = m6 * R + m7 * G + m8 * B;
            }
        } else {
            const float d0 = p->divisor[0], d1 = p->divisor[1], d2 = p->divisor[2];
            for (Py_ssize_t c = 0; c < w2; ++c) {
                const float R = (float)clip_u16(red[2 * c], l0, hi) - b0;
                const float g2 = ((float)clip_u16(green2[2 * c], l3, hi) - b3) * s3;
                const float G = ((float)clip_u16(green1[2 * c], l1, hi) - b1) + g2;
                const float B = (float)clip_u16(blue[2 * c], l2, hi) - b2;
                o0[c] = R / d0;
                o1[c] = G / d1;
                o2[c] = B / d2;
            }
            if (p->clamp_green) {
                for (Py_ssize_t c = 0; c < w2; ++c)
                    o1[c] = o1[c] > 1.0f ? 1.0f : o1[c];
            }
        }
    }
}

static int read_floats(PyObject *seq, float *dst, Py_ssize_t n, const char *name) {
    PyObject *fast = PySequence_Fast(seq, name);
    if (fast == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(fast) != n) {
        PyErr_Format(PyExc_ValueError, "%s must have %zd values", name, n);
        Py_DECREF(fast);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; ++i) {
        double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1.0 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
        dst[i] = (float)v;
    }
    Py_DECREF(fast);
    return 0;
}

static int is_format(const char *format, char code) {
    /* NumPy reports native-order formats as "H" / "f", possibly with a byte-order prefix */
    if (format == NULL)
        return 0;
    if (format[0] == '@' || format[0] == '=' ||
#if PY_LITTLE_ENDIAN
        format[0] == '<'
#else
        format[0] == '>'
#endif
    )
        ++format;
    return format[0] == code && format[1] == '\0';
}

PyDoc_STRVAR(pack_u16_doc,
"pack_u16(mosaic, out, sites, low, high, black, green2_scale, matrix, divisor, clamp_green)\n"
"\n"
"Packs a 2-D uint16 mosaic (unit column stride) into out, a C-contiguous float32 buffer of\n"
"shape (3, H/2, W/2). sites: four (y, x) cell positions of R, G1, B, G2; low: their clip\n"
"floors; high: the clip ceiling; black: four float32 black levels; matrix: nine floats or\n"
"None; divisor: three floats (used without a matrix). Releases the GIL.");

static PyObject *pack_u16(PyObject *self, PyObject *args) {
    PyObject *mosaic_obj, *out_obj, *sites_obj, *low_obj, *black_obj, *matrix_obj, *divisor_obj;
    unsigned int high;
    float green2_scale;
    int clamp_green;
    if (!PyArg_ParseTuple(args, "OOOOIOfOOp", &mosaic_obj, &out_obj, &sites_obj, &low_obj,
                          &high, &black_obj, &green2_scale, &matrix_obj, &divisor_obj,
                          &clamp_green))
        return NULL;

    PackParams params;
    memset(&params, 0, sizeof(params));
    float sites[8], low[4];
    if (read_floats(sites_obj, sites, 8, "sites") || read_floats(low_obj, low, 4, "low") ||
        read_floats(black_obj, params.black, 4, "black") ||
        read_floats(divisor_obj, params.divisor, 3, "divisor"))
        return NULL;
    if (high > 65535) {
        PyErr_SetString(PyExc_ValueError, "high must fit uint16");
        return NULL;
    }
    params.high = (uint16_t)high;
    for (int k = 0; k < 4; ++k) {
        if (low[k] < 0.0f || low[k] > 65535.0f || (float)(uint16_t)low[k] != low[k]) {
            PyErr_SetString(PyExc_ValueError, "low must hold uint16 integers");
            return NULL;
        }
        params.low[k] = (uint16_t)low[k];
    }
    params.green2_scale = green2_scale;
    params.clamp_green = clamp_green;
    params.has_matrix = matrix_obj != Py_None;
    if (params.has_matrix && read_floats(matrix_obj, params.matrix, 9, "matrix"))
        return NULL;

    Py_buffer mosaic, out;
    if (PyObject_GetBuffer(mosaic_obj, &mosaic, PyBUF_STRIDES | PyBUF_FORMAT) < 0)
        return NULL;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&mosaic);
        return NULL;
    }
    const char *problem = NULL;
    Py_ssize_t h2 = 0, w2 = 0, row_stride = 0;
    if (mosaic.ndim != 2 || mosaic.itemsize != 2 || !is_format(mosaic.format, 'H'))
        problem = "mosaic must be a 2-D uint16 array";
    else if (mosaic.strides[1] != 2 || mosaic.strides[0] <= 0 || mosaic.strides[0] % 2)
        problem = "mosaic must have unit column stride and a positive row stride";
    else if (out.ndim != 3 || out.itemsize != 4 || !is_format(out.format, 'f'))
        problem = "out must be a 3-D float32 array";
    if (problem == NULL) {
        h2 = mosaic.shape[0] / 2;
        w2 = mosaic.shape[1] / 2;
        row_stride = mosaic.strides[0] / 2;
        if (h2 < 1 || w2 < 1)
            problem = "mosaic has no complete 2x2 cell";
        else if (out.shape[0] != 3 || out.shape[1] != h2 || out.shape[2] != w2)
            problem = "out must have shape (3, H/2, W/2) of the mosaic";
    }
    for (int k = 0; problem == NULL && k < 4; ++k) {
        const float y = sites[2 * k], x = sites[2 * k + 1];
        if ((y != 0.0f && y != 1.0f) || (x != 0.0f && x != 1.0f))
            problem = "sites must be (y, x) positions in a 2x2 cell";
        else
            params.offset[k] = (Py_ssize_t)y * row_stride + (Py_ssize_t)x;
    }
    if (problem != NULL) {
        PyBuffer_Release(&mosaic);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }

    Py_BEGIN_ALLOW_THREADS
    pack_rows((const uint16_t *)mosaic.buf, row_stride, h2, w2, &params, (float *)out.buf);
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&mosaic);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"pack_u16", pack_u16, METH_VARARGS, pack_u16_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pack_kernel",
    "Fused Bayer packing (C); see genisp_mmdet.raw.packing.pack_bayer.", -1, methods,
};

PyMODINIT_FUNC PyInit__pack_kernel(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "ABI", KERNEL_ABI) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
