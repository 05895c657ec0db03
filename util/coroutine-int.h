/*
 * coroutine-int.h: private coroutine state shared by util/qemu-coroutine*.c
 * and the stack-switching backend (util/coroutine-ucontext.c).
 */
#ifndef UTIL_COROUTINE_INT_H
#define UTIL_COROUTINE_INT_H

#include "qemu/coroutine.h"
#include <setjmp.h>

/*
 * Saved registers of a parked coroutine.  On x86-64 a minimal hand-written
 * setjmp/longjmp is used (callee-saved registers, stack and instruction
 * pointer; no signal mask, no pointer mangling, no cleanup-handler walk);
 * elsewhere glibc's _setjmp/_longjmp.
 */
#if defined(__x86_64__)
typedef uint64_t CoJmpBuf[8];
#else
typedef jmp_buf CoJmpBuf;
#endif

typedef enum CoroutineAction {
    COROUTINE_YIELD = 1,
    COROUTINE_TERMINATE = 2,
    COROUTINE_ENTER = 3,
} CoroutineAction;

struct Coroutine {
    CoroutineEntry *entry;
    void *entry_arg;
    /* Who entered us (and gets control back when we yield); NULL if not running. */
    Coroutine *caller;
    /* The AioContext we run in (set on every enter). */
    AioContext *ctx;
    /* Non-NULL while queued by aio_co_schedule(): name of the scheduler. */
    const char *scheduled;

    /* Link for CoQueue (data points back at the coroutine; no allocation). */
    GList co_queue_link;
    /* Link for the per-context list of scheduled coroutines. */
    Coroutine *co_scheduled_next;
    /* Link for the per-thread pool of finished coroutines. */
    Coroutine *pool_next;

    /* Backend state. */
    CoJmpBuf env;
    void *stack;          /* lowest usable byte (above the guard page) */
    size_t stack_size;    /* usable bytes */
    void *map_base;       /* mmap() base including the guard page */
    size_t map_size;
};

#define COROUTINE_STACK_SIZE (1 * MiB)

/* Enter co, making ctx its AioContext. */
void qemu_aio_coroutine_enter(AioContext *ctx, Coroutine *co);

/* Backend: allocate a coroutine with its own stack, ready to be switched to. */
Coroutine *qemu_coroutine_new(void);
void qemu_coroutine_delete(Coroutine *co);
/* Backend: switch from `from` to `to`; returns the action `to` passed back. */
CoroutineAction qemu_coroutine_switch(Coroutine *from, Coroutine *to,
                                      CoroutineAction action);
/* Backend: the coroutine currently running on this thread (the thread's own
 * pseudo-coroutine when none is). */
Coroutine *qemu_coroutine_current(void);
bool qemu_coroutine_is_leader(Coroutine *co);

#endif /* UTIL_COROUTINE_INT_H */
