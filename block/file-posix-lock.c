/*
 * file-posix-lock.c: image locking of the `file` driver with open file
 * description (OFD) byte-range locks, in QEMU's byte layout so that blockd,
 * qemu-img, qemu-nbd and qemu-storage-daemon see each other's locks.
 *
 * Layout: for permission bit i (consistent read, write, write unchanged,
 * resize, graph-mod), byte RAW_LOCK_PERM_BASE + i carries a shared lock
 * while we hold permission i, and byte RAW_LOCK_SHARED_BASE + i while we
 * do NOT share it.  Taking permission i requires that nobody else locks
 * byte 200 + i; unsharing i requires that nobody else locks byte 100 + i.
 * Tests use F_OFD_GETLK with a write lock, which reports any lock held by
 * another file description (ours are invisible to it).
 */
#include "qemu/osdep.h"
#include "block/block-common.h"
#include "block/file-posix-int.h"
#include "trace/trace-block.h"

#define RAW_LOCK_NBITS  (64 - __builtin_clzll((uint64_t)BLK_PERM_ALL))

static int raw_lock_fd(int fd, int64_t start, int64_t len, short type)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = start,
        .l_len = len,
        .l_type = type,
    };

    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        return -errno;
    }
    return 0;
}

/* 0 if nobody else holds a lock on the range, -EAGAIN if someone does */
static int raw_lock_test(int fd, int64_t start, int64_t len)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = start,
        .l_len = len,
        .l_type = F_WRLCK,
    };

    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return -errno;
    }
    return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
}

bool raw_ofd_lock_supported(void)
{
    static int supported = -1;

    if (supported < 0) {
        struct flock fl = {
            .l_whence = SEEK_SET,
            .l_type = F_WRLCK,
        };
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (fd < 0) {
            return false;
        }
        supported = fcntl(fd, F_OFD_GETLK, &fl) == 0;
        close(fd);
    }
    return supported;
}

/* Lock or unlock byte base+i for bit i so that *held becomes `want`. */
static int raw_lock_update(int fd, int base, uint64_t *held, uint64_t want,
                           bool unlock, Error **errp)
{
    for (int i = 0; i < RAW_LOCK_NBITS; i++) {
        uint64_t bit = UINT64_C(1) << i;
        int ret;

        if ((want & bit) && !(*held & bit)) {
            ret = raw_lock_fd(fd, base + i, 1, F_RDLCK);
            trace_file_lock_byte(fd, base + i, 1, ret);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to lock byte %d",
                                 base + i);
                return ret;
            }
            *held |= bit;
        } else if (unlock && !(want & bit) && (*held & bit)) {
            ret = raw_lock_fd(fd, base + i, 1, F_UNLCK);
            trace_file_lock_byte(fd, base + i, 0, ret);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to unlock byte %d",
                                 base + i);
                return ret;
            }
            *held &= ~bit;
        }
    }
    return 0;
}

int raw_lock_apply_bytes(RawLockState *st, int fd, uint64_t perm_bits,
                         uint64_t unshared_bits, bool unlock, Error **errp)
{
    int ret;

    perm_bits &= BLK_PERM_ALL;
    unshared_bits &= BLK_PERM_ALL;
    ret = raw_lock_update(fd, RAW_LOCK_PERM_BASE, &st->locked_perm,
                          perm_bits, unlock, errp);
    if (ret < 0) {
        return ret;
    }
    return raw_lock_update(fd, RAW_LOCK_SHARED_BASE, &st->locked_unshared,
                           unshared_bits, unlock, errp);
}

/* The error QEMU gives: EAGAIN/EACCES mean "someone holds it" (no errno text). */
static void raw_lock_error(Error **errp, int err, const char *fmt_shared,
                           uint64_t bit)
{
    g_autofree char *name = bdrv_perm_names(bit);

    if (err == EAGAIN || err == EACCES) {
        error_setg(errp, fmt_shared, name);
    } else {
        error_setg_errno(errp, err, fmt_shared, name);
    }
}

int raw_lock_check_bytes(int fd, uint64_t perm, uint64_t shared,
                         Error **errp)
{
    for (int i = 0; i < RAW_LOCK_NBITS; i++) {
        uint64_t bit = UINT64_C(1) << i;
        int ret;

        if (perm & bit) {
            ret = raw_lock_test(fd, RAW_LOCK_SHARED_BASE + i, 1);
            if (ret < 0) {
                raw_lock_error(errp, -ret, "Failed to get \"%s\" lock", bit);
                return ret;
            }
        }
    }
    for (int i = 0; i < RAW_LOCK_NBITS; i++) {
        uint64_t bit = UINT64_C(1) << i;
        int ret;

        if (!(shared & bit)) {
            ret = raw_lock_test(fd, RAW_LOCK_PERM_BASE + i, 1);
            if (ret < 0) {
                raw_lock_error(errp, -ret, "Failed to get shared \"%s\" lock",
                               bit);
                return ret;
            }
        }
    }
    return 0;
}

int raw_lock_query(int fd, uint64_t *perm_held, uint64_t *unshared_held)
{
    *perm_held = 0;
    *unshared_held = 0;
    for (int i = 0; i < RAW_LOCK_NBITS; i++) {
        int ret = raw_lock_test(fd, RAW_LOCK_PERM_BASE + i, 1);

        if (ret == -EAGAIN) {
            *perm_held |= UINT64_C(1) << i;
        } else if (ret < 0) {
            return ret;
        }
        ret = raw_lock_test(fd, RAW_LOCK_SHARED_BASE + i, 1);
        if (ret == -EAGAIN) {
            *unshared_held |= UINT64_C(1) << i;
        } else if (ret < 0) {
            return ret;
        }
    }
    return 0;
}
