/*
 * test-iov.c: iovec helpers, QEMUIOVector, buffer_is_zero, qemu_memalign.
 */
#include "qemu/osdep.h"
#include "qemu/iov.h"

/* A vector of n elements of lengths 1, 2, 3, ... over one buffer. */
static struct iovec *make_iov(char *buf, int n, size_t *total)
{
    struct iovec *iov = g_new(struct iovec, n);
    size_t off = 0;
    int i;

    for (i = 0; i < n; i++) {
        iov[i].iov_base = buf + off;
        iov[i].iov_len = i + 1;
        off += i + 1;
    }
    *total = off;
    return iov;
}

static void test_from_to_buf(void)
{
    char backing[64] = { 0 }, src[64], dst[64];
    size_t total, off, len;
    struct iovec *iov = make_iov(backing, 10, &total);   /* 55 bytes */
    int i;

    g_assert_cmpuint(iov_size(iov, 10), ==, 55);
    for (i = 0; i < 64; i++) {
        src[i] = 'A' + i % 26;
    }
    for (off = 0; off <= total; off++) {
        for (len = 0; off + len <= total + 3; len++) {
            size_t want = MIN(len, total - off);

            memset(backing, 0, sizeof(backing));
            g_assert_cmpuint(iov_from_buf(iov, 10, off, src, len), ==, want);
            g_assert_cmpmem(backing + off, want, src, want);
            g_assert_true(buffer_is_zero(backing, off));
            memset(dst, 0, sizeof(dst));
            g_assert_cmpuint(iov_to_buf(iov, 10, off, dst, len), ==, want);
            g_assert_cmpmem(dst, want, src, want);
        }
    }

    memset(backing, 0, sizeof(backing));
    g_assert_cmpuint(iov_memset(iov, 10, 5, 'z', 20), ==, 20);
    g_assert_true(buffer_is_zero(backing, 5));
    g_assert_cmpint(backing[5], ==, 'z');
    g_assert_cmpint(backing[24], ==, 'z');
    g_assert_cmpint(backing[25], ==, 0);
    g_assert_true(iov_is_zero(iov, 10, 0, 5));
    g_assert_false(iov_is_zero(iov, 10, 0, 6));
    g_assert_true(iov_is_zero(iov, 10, 25, 30));
    g_free(iov);
}

static void test_buffer_is_zero(void)
{
    size_t len, start, pos;
    char *buf = g_malloc0(1024 + 16);

    for (start = 0; start < 9; start++) {
        for (len = 0; len < 300; len += (len < 80 ? 1 : 7)) {
            char *p = buf + start;

            g_assert_true(buffer_is_zero(p, len));
            for (pos = 0; pos < len; pos++) {
                p[pos] = 1;
                g_assert_false(buffer_is_zero(p, len));
                p[pos] = 0;
            }
            /* Bytes around the range do not count. */
            if (start > 0) {
                p[-1] = 1;
            }
            p[len] = 1;
            g_assert_true(buffer_is_zero(p, len));
            if (start > 0) {
                p[-1] = 0;
            }
            p[len] = 0;
        }
    }
    g_free(buf);
}

static void test_qiov_basic(void)
{
    char a[8] = "abcdefgh", b[4] = "ijkl", c[16];
    QEMUIOVector q, q2;

    qemu_iovec_init(&q, 1);
    qemu_iovec_add(&q, a, 8);
    qemu_iovec_add(&q, b, 4);
    qemu_iovec_add(&q, a, 2);
    g_assert_cmpint(q.niov, ==, 3);
    g_assert_cmpuint(q.size, ==, 14);
    g_assert_cmpuint(qemu_iovec_to_buf(&q, 0, c, 16), ==, 14);
    g_assert_cmpmem(c, 14, "abcdefghijklab", 14);

    qemu_iovec_init_buf(&q2, c, 14);
    g_assert_cmpuint(q2.size, ==, 14);
    g_assert_cmpint(qemu_iovec_compare(&q, &q2), ==, -1);
    c[9] = 'X';
    g_assert_cmpint(qemu_iovec_compare(&q, &q2), ==, 9);
    c[9] = 'j';

    g_assert_cmpuint(qemu_iovec_memset(&q, 7, 0, 3), ==, 3);
    g_assert_true(qemu_iovec_is_zero(&q, 7, 3));
    g_assert_false(qemu_iovec_is_zero(&q, 6, 3));
    g_assert_cmpint(a[7], ==, 0);
    g_assert_cmpint(b[1], ==, 0);
    g_assert_cmpint(b[2], ==, 'k');
    g_assert_cmpuint(qemu_iovec_from_buf(&q, 7, "HIJ", 3), ==, 3);
    g_assert_cmpint(qemu_iovec_compare(&q, &q2), ==, 7);  /* a[7] is now H */

    qemu_iovec_reset(&q);
    g_assert_cmpuint(q.size, ==, 0);
    g_assert_cmpint(q.niov, ==, 0);
    qemu_iovec_destroy(&q);
    qemu_iovec_destroy(&q2);
}

static void test_qiov_slice_concat(void)
{
    char buf[32];
    QEMUIOVector src, slice, cat;
    struct iovec ext[3];
    char out[32];
    int i;

    for (i = 0; i < 32; i++) {
        buf[i] = i;
    }
    ext[0] = (struct iovec){ buf, 10 };
    ext[1] = (struct iovec){ buf + 10, 12 };
    ext[2] = (struct iovec){ buf + 22, 10 };
    qemu_iovec_init_external(&src, ext, 3);
    g_assert_cmpuint(src.size, ==, 32);

    /* Inside one element: a one-element view. */
    qemu_iovec_init_slice(&slice, &src, 12, 5);
    g_assert_cmpint(slice.niov, ==, 1);
    g_assert_true(slice.iov[0].iov_base == buf + 12);
    g_assert_cmpuint(slice.size, ==, 5);
    qemu_iovec_destroy(&slice);

    /* Across elements. */
    qemu_iovec_init_slice(&slice, &src, 5, 20);
    g_assert_cmpint(slice.niov, ==, 3);
    g_assert_cmpuint(slice.size, ==, 20);
    g_assert_cmpuint(qemu_iovec_to_buf(&slice, 0, out, 20), ==, 20);
    g_assert_cmpmem(out, 20, buf + 5, 20);

    qemu_iovec_init(&cat, 0);
    qemu_iovec_concat(&cat, &slice, 3, 10);
    qemu_iovec_concat(&cat, &src, 0, 2);
    g_assert_cmpuint(cat.size, ==, 12);
    g_assert_cmpuint(qemu_iovec_to_buf(&cat, 0, out, 12), ==, 12);
    g_assert_cmpmem(out, 10, buf + 8, 10);
    g_assert_cmpint(out[10], ==, 0);
    g_assert_cmpint(out[11], ==, 1);

    /* Different layouts, same bytes. */
    qemu_iovec_destroy(&cat);
    qemu_iovec_init(&cat, 0);
    qemu_iovec_add(&cat, buf, 32);
    g_assert_cmpint(qemu_iovec_compare(&src, &cat), ==, -1);
    qemu_iovec_destroy(&cat);
    qemu_iovec_destroy(&slice);
    qemu_iovec_destroy(&src);
}

static void test_memalign(void)
{
    size_t align;

    for (align = 8; align <= 65536; align *= 2) {
        void *p = qemu_memalign(align, 1000);

        g_assert_true(QEMU_PTR_IS_ALIGNED(p, align));
        memset(p, 0xaa, 1000);
        qemu_vfree(p);
    }
    qemu_vfree(qemu_memalign(4096, 0));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/iov/from-to-buf", test_from_to_buf);
    g_test_add_func("/iov/buffer-is-zero", test_buffer_is_zero);
    g_test_add_func("/iov/qiov-basic", test_qiov_basic);
    g_test_add_func("/iov/qiov-slice-concat", test_qiov_slice_concat);
    g_test_add_func("/iov/memalign", test_memalign);
    return g_test_run();
}
