/*
 * iov.h: scatter/gather helpers.  QEMUIOVector is a growable iovec array
 * with its total size; it may also be a "slice" view into another vector.
 */
#ifndef QEMU_IOV_H
#define QEMU_IOV_H

#include "qemu/osdep.h"

size_t iov_size(const struct iovec *iov, unsigned int iov_cnt);
size_t iov_from_buf(const struct iovec *iov, unsigned int iov_cnt,
                    size_t offset, const void *buf, size_t bytes);
size_t iov_to_buf(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, void *buf, size_t bytes);
size_t iov_memset(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, int fillc, size_t bytes);
/* True if bytes at offset are all zero. */
bool iov_is_zero(const struct iovec *iov, unsigned int iov_cnt, size_t offset, size_t bytes);
bool buffer_is_zero(const void *buf, size_t len);

typedef struct QEMUIOVector {
    struct iovec *iov;
    int niov;
    int nalloc;          /* -1 for external (non-owned) iov arrays */
    size_t size;
    struct iovec local_iov; /* used by qemu_iovec_init_buf */
} QEMUIOVector;

void qemu_iovec_init(QEMUIOVector *qiov, int alloc_hint);
/* A one-element vector over buf (no allocation). */
void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len);
void qemu_iovec_init_external(QEMUIOVector *qiov, struct iovec *iov, int niov);
/* qiov = bytes of source starting at offset (source must outlive qiov). */
void qemu_iovec_init_slice(QEMUIOVector *qiov, QEMUIOVector *source,
                           size_t offset, size_t len);
void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len);
void qemu_iovec_concat(QEMUIOVector *dst, QEMUIOVector *src, size_t soffset, size_t sbytes);
void qemu_iovec_reset(QEMUIOVector *qiov);
void qemu_iovec_destroy(QEMUIOVector *qiov);
size_t qemu_iovec_to_buf(QEMUIOVector *qiov, size_t offset, void *buf, size_t bytes);
size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset, const void *buf, size_t bytes);
size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset, int fillc, size_t bytes);
bool qemu_iovec_is_zero(QEMUIOVector *qiov, size_t offset, size_t bytes);
/* -1 if equal, else offset of the first difference */
ssize_t qemu_iovec_compare(QEMUIOVector *a, QEMUIOVector *b);

/* Page-aligned buffers (suitable for O_DIRECT). */
void *qemu_memalign(size_t alignment, size_t size);
void *qemu_try_memalign(size_t alignment, size_t size);
void qemu_vfree(void *ptr);

#endif
