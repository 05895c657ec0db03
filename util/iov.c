/*
 * iov.c: scatter/gather helpers (plain iovec arrays and QEMUIOVector).
 */
#include "qemu/osdep.h"
#include "qemu/iov.h"

/* ---- plain iovec arrays ---- */

size_t iov_size(const struct iovec *iov, unsigned int iov_cnt)
{
    size_t len = 0;
    unsigned int i;

    for (i = 0; i < iov_cnt; i++) {
        len += iov[i].iov_len;
    }
    return len;
}

/*
 * Walk the bytes [offset, offset + bytes) of the vector, calling fn on each
 * contiguous piece with its position in the walk.  Returns the number of
 * bytes walked (less than requested if the vector is shorter), or stops
 * early when fn returns false.
 */
typedef bool IovPieceFunc(void *base, size_t len, size_t done, void *opaque);

static size_t iov_walk(const struct iovec *iov, unsigned int iov_cnt,
                       size_t offset, size_t bytes, IovPieceFunc *fn,
                       void *opaque)
{
    size_t done = 0;
    unsigned int i;

    for (i = 0; i < iov_cnt && done < bytes; i++) {
        size_t len;

        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        len = MIN(iov[i].iov_len - offset, bytes - done);
        if (!fn((char *)iov[i].iov_base + offset, len, done, opaque)) {
            return done;
        }
        done += len;
        offset = 0;
    }
    return done;
}

static bool piece_from_buf(void *base, size_t len, size_t done, void *opaque)
{
    memcpy(base, (const char *)opaque + done, len);
    return true;
}

static bool piece_to_buf(void *base, size_t len, size_t done, void *opaque)
{
    memcpy((char *)opaque + done, base, len);
    return true;
}

static bool piece_memset(void *base, size_t len, size_t done, void *opaque)
{
    memset(base, *(int *)opaque, len);
    return true;
}

static bool piece_is_zero(void *base, size_t len, size_t done, void *opaque)
{
    if (!buffer_is_zero(base, len)) {
        *(bool *)opaque = false;
        return false;
    }
    return true;
}

size_t iov_from_buf(const struct iovec *iov, unsigned int iov_cnt,
                    size_t offset, const void *buf, size_t bytes)
{
    return iov_walk(iov, iov_cnt, offset, bytes, piece_from_buf, (void *)buf);
}

size_t iov_to_buf(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, void *buf, size_t bytes)
{
    return iov_walk(iov, iov_cnt, offset, bytes, piece_to_buf, buf);
}

size_t iov_memset(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, int fillc, size_t bytes)
{
    return iov_walk(iov, iov_cnt, offset, bytes, piece_memset, &fillc);
}

bool iov_is_zero(const struct iovec *iov, unsigned int iov_cnt, size_t offset,
                 size_t bytes)
{
    bool zero = true;

    iov_walk(iov, iov_cnt, offset, bytes, piece_is_zero, &zero);
    return zero;
}

/* ---- QEMUIOVector ---- */

void qemu_iovec_init(QEMUIOVector *qiov, int alloc_hint)
{
    memset(qiov, 0, sizeof(*qiov));
    qiov->nalloc = MAX(alloc_hint, 1);
    qiov->iov = g_new(struct iovec, qiov->nalloc);
}

void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len)
{
    memset(qiov, 0, sizeof(*qiov));
    qiov->local_iov.iov_base = buf;
    qiov->local_iov.iov_len = len;
    qiov->iov = &qiov->local_iov;
    qiov->niov = 1;
    qiov->nalloc = -1;
    qiov->size = len;
}

void qemu_iovec_init_external(QEMUIOVector *qiov, struct iovec *iov, int niov)
{
    memset(qiov, 0, sizeof(*qiov));
    qiov->iov = iov;
    qiov->niov = niov;
    qiov->nalloc = -1;
    qiov->size = iov_size(iov, niov);
}

void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len)
{
    assert(qiov->nalloc != -1);
    if (qiov->niov == qiov->nalloc) {
        qiov->nalloc = 2 * qiov->nalloc + 1;
        qiov->iov = g_renew(struct iovec, qiov->iov, qiov->nalloc);
    }
    qiov->iov[qiov->niov].iov_base = base;
    qiov->iov[qiov->niov].iov_len = len;
    qiov->niov++;
    qiov->size += len;
}

typedef struct IovConcat {
    QEMUIOVector *dst;
} IovConcat;

static bool piece_concat(void *base, size_t len, size_t done, void *opaque)
{
    qemu_iovec_add(((IovConcat *)opaque)->dst, base, len);
    return true;
}

void qemu_iovec_concat(QEMUIOVector *dst, QEMUIOVector *src, size_t soffset,
                       size_t sbytes)
{
    IovConcat c = { .dst = dst };

    assert(soffset + sbytes <= src->size);
    iov_walk(src->iov, src->niov, soffset, sbytes, piece_concat, &c);
}

/* The element of `source` that holds byte `offset`, and the offset inside it. */
static int qiov_find(QEMUIOVector *qiov, size_t *offset)
{
    int i;

    for (i = 0; i < qiov->niov; i++) {
        if (*offset < qiov->iov[i].iov_len) {
            return i;
        }
        *offset -= qiov->iov[i].iov_len;
    }
    return -1;
}

void qemu_iovec_init_slice(QEMUIOVector *qiov, QEMUIOVector *source,
                           size_t offset, size_t len)
{
    size_t in_elem = offset;
    int i;

    assert(offset + len <= source->size);
    i = len ? qiov_find(source, &in_elem) : -1;
    if (len == 0 || source->iov[i].iov_len - in_elem >= len) {
        /* Within one element (or empty): no allocation needed. */
        void *base = len ? (char *)source->iov[i].iov_base + in_elem : NULL;

        qemu_iovec_init_buf(qiov, base, len);
        return;
    }
    qemu_iovec_init(qiov, 4);
    qemu_iovec_concat(qiov, source, offset, len);
}

void qemu_iovec_reset(QEMUIOVector *qiov)
{
    assert(qiov->nalloc != -1);
    qiov->niov = 0;
    qiov->size = 0;
}

void qemu_iovec_destroy(QEMUIOVector *qiov)
{
    if (qiov->nalloc != -1) {
        g_free(qiov->iov);
    }
    memset(qiov, 0, sizeof(*qiov));
}

size_t qemu_iovec_to_buf(QEMUIOVector *qiov, size_t offset, void *buf,
                         size_t bytes)
{
    return iov_to_buf(qiov->iov, qiov->niov, offset, buf, bytes);
}

size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset, const void *buf,
                           size_t bytes)
{
    return iov_from_buf(qiov->iov, qiov->niov, offset, buf, bytes);
}

size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset, int fillc,
                         size_t bytes)
{
    return iov_memset(qiov->iov, qiov->niov, offset, fillc, bytes);
}

bool qemu_iovec_is_zero(QEMUIOVector *qiov, size_t offset, size_t bytes)
{
    return iov_is_zero(qiov->iov, qiov->niov, offset, bytes);
}

ssize_t qemu_iovec_compare(QEMUIOVector *a, QEMUIOVector *b)
{
    size_t total = MIN(a->size, b->size);
    size_t ao = 0, bo = 0, pos = 0;
    int ai = 0, bi = 0;

    while (pos < total) {
        const char *pa, *pb;
        size_t n, j;

        /* Skip empty elements. */
        if (ao == a->iov[ai].iov_len) {
            ai++;
            ao = 0;
            continue;
        }
        if (bo == b->iov[bi].iov_len) {
            bi++;
            bo = 0;
            continue;
        }
        n = MIN(a->iov[ai].iov_len - ao, b->iov[bi].iov_len - bo);
        pa = (const char *)a->iov[ai].iov_base + ao;
        pb = (const char *)b->iov[bi].iov_base + bo;
        if (memcmp(pa, pb, n) != 0) {
            for (j = 0; pa[j] == pb[j]; j++) {
                /* find the first differing byte */
            }
            return pos + j;
        }
        ao += n;
        bo += n;
        pos += n;
    }
    return a->size == b->size ? -1 : (ssize_t)total;
}
