/*
 * memalign.c: aligned allocations (for O_DIRECT buffers).
 */
#include "qemu/osdep.h"
#include "qemu/iov.h"

void *qemu_try_memalign(size_t alignment, size_t size)
{
    void *ptr;

    alignment = MAX(alignment, sizeof(void *));
    assert(is_power_of_2(alignment));
    if (size == 0) {
        size = alignment;   /* always return a unique, freeable pointer */
    }
    if (posix_memalign(&ptr, alignment, size) != 0) {
        return NULL;
    }
    return ptr;
}

void *qemu_memalign(size_t alignment, size_t size)
{
    void *ptr = qemu_try_memalign(alignment, size);

    if (!ptr) {
        fprintf(stderr, "blockd: failed to allocate %zu bytes aligned to %zu\n",
                size, alignment);
        abort();
    }
    return ptr;
}

void qemu_vfree(void *ptr)
{
    free(ptr);
}
