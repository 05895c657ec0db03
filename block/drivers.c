/*
 * drivers.c: bdrv_init(), the registration of every built-in driver.
 * Each driver is a BlockDriver defined in its own file.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"

extern BlockDriver bdrv_raw;
extern BlockDriver bdrv_null_co;
extern BlockDriver bdrv_null_aio;
extern BlockDriver bdrv_nbd;
extern BlockDriver bdrv_file;
extern BlockDriver bdrv_host_device;
extern BlockDriver bdrv_qcow2;
extern BlockDriver bdrv_cbw_filter;
extern BlockDriver bdrv_snapshot_access;

void bdrv_init(void)
{
    static bool done;
    BlockDriver *const drivers[] = {
        &bdrv_file,
        &bdrv_host_device,
        &bdrv_raw,
        &bdrv_null_co,
        &bdrv_null_aio,
        &bdrv_nbd,
        &bdrv_qcow2,
        &bdrv_cbw_filter,
        &bdrv_snapshot_access,
    };
    size_t i;

    if (done) {
        return;
    }
    done = true;
    for (i = 0; i < ARRAY_SIZE(drivers); i++) {
        bdrv_register(drivers[i]);
    }
}
