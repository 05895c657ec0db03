/*
 * coroutine-ucontext.c: the stack-switching backend of the coroutines.
 *
 * Each coroutine gets an mmap()ed stack with a guard page.  makecontext()
 * and swapcontext() are used exactly once per coroutine object, to start a
 * trampoline on the new stack; from then on every switch is a plain
 * setjmp/longjmp pair, which costs no system call (unlike swapcontext(),
 * which saves the signal mask).  On x86-64 the pair is the dozen
 * instructions below; elsewhere glibc's _setjmp()/_longjmp().
 *
 * Under AddressSanitizer each switch is announced with
 * __sanitizer_start_switch_fiber()/__sanitizer_finish_switch_fiber() so that
 * ASan knows which stack is live.
 */

/* glibc's fortified longjmp refuses to jump between stacks. */
#ifdef _FORTIFY_SOURCE
#undef _FORTIFY_SOURCE
#endif
#include "qemu/osdep.h"
#include "coroutine-int.h"

#include <sys/mman.h>
#include <ucontext.h>

#if defined(__SANITIZE_ADDRESS__)
#define CONFIG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONFIG_ASAN 1
#endif
#endif

#ifdef CONFIG_ASAN
#include <sanitizer/asan_interface.h>
/*
 * Functions that stay on a coroutine's stack across a switch keep their
 * locals on the real stack: a terminating coroutine drops its ASan "fake
 * stack" (detect_stack_use_after_return), but a pooled one resumes in
 * these frames when it is reused.
 */
#define NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define NO_SANITIZE_ADDRESS
#endif

/* ---- register save/restore ---- */

#if defined(__x86_64__)
/*
 * co_setjmp(buf) saves rbx, rbp, r12-r15, the caller's rsp and the return
 * address and returns 0; co_longjmp(buf, val) restores them and makes that
 * co_setjmp() return val (never 0).  Only callee-saved state is kept, as
 * the System V ABI requires across a call.
 */
int co_setjmp(CoJmpBuf buf) __attribute__((returns_twice));
void co_longjmp(CoJmpBuf buf, int val) QEMU_NORETURN;

__asm__(
    "    .text\n"
    "    .p2align 4\n"
    "    .globl co_setjmp\n"
    "    .hidden co_setjmp\n"
    "    .type co_setjmp, @function\n"
    "co_setjmp:\n"
#ifdef __CET__
    "    endbr64\n"
#endif
    "    movq %rbx, 0(%rdi)\n"
    "    movq %rbp, 8(%rdi)\n"
    "    movq %r12, 16(%rdi)\n"
    "    movq %r13, 24(%rdi)\n"
    "    movq %r14, 32(%rdi)\n"
    "    movq %r15, 40(%rdi)\n"
    "    leaq 8(%rsp), %rdx\n"        /* rsp after our return */
    "    movq %rdx, 48(%rdi)\n"
    "    movq (%rsp), %rdx\n"         /* return address */
    "    movq %rdx, 56(%rdi)\n"
    "    xorl %eax, %eax\n"
    "    ret\n"
    "    .size co_setjmp, .-co_setjmp\n"
    "\n"
    "    .p2align 4\n"
    "    .globl co_longjmp\n"
    "    .hidden co_longjmp\n"
    "    .type co_longjmp, @function\n"
    "co_longjmp:\n"
#ifdef __CET__
    "    endbr64\n"
#endif
    "    movq 0(%rdi), %rbx\n"
    "    movq 8(%rdi), %rbp\n"
    "    movq 16(%rdi), %r12\n"
    "    movq 24(%rdi), %r13\n"
    "    movq 32(%rdi), %r14\n"
    "    movq 40(%rdi), %r15\n"
    "    movq 48(%rdi), %rsp\n"
    "    movl %esi, %eax\n"
    "    jmpq *56(%rdi)\n"
    "    .size co_longjmp, .-co_longjmp\n"
);
#else
#define co_setjmp(buf) _setjmp(buf)
#define co_longjmp(buf, val) _longjmp(buf, val)
#endif

/*
 * The thread's own stack is represented by a "leader" pseudo-coroutine that
 * has no stack of its own; `current` is whatever runs right now.
 */
typedef struct CoroutineThreadState {
    Coroutine leader;
    Coroutine *current;
#ifdef CONFIG_ASAN
    const void *leader_stack_bottom;
    size_t leader_stack_size;
#endif
} CoroutineThreadState;

static __thread CoroutineThreadState co_thread;

static inline CoroutineThreadState *co_thread_state(void)
{
    if (unlikely(!co_thread.current)) {
        co_thread.current = &co_thread.leader;
    }
    return &co_thread;
}

Coroutine *qemu_coroutine_current(void)
{
    return co_thread_state()->current;
}

bool qemu_coroutine_is_leader(Coroutine *co)
{
    return co == &co_thread.leader;
}

/* ---- AddressSanitizer fiber annotations ---- */

static inline void asan_start_switch(void **fake_stack_save, Coroutine *to)
{
#ifdef CONFIG_ASAN
    CoroutineThreadState *ts = &co_thread;
    const void *bottom = to->stack;
    size_t size = to->stack_size;

    if (qemu_coroutine_is_leader(to)) {
        bottom = ts->leader_stack_bottom;
        size = ts->leader_stack_size;
    }
    __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#endif
}

static inline void asan_finish_switch(void *fake_stack_save)
{
#ifdef CONFIG_ASAN
    CoroutineThreadState *ts = &co_thread;
    const void *bottom_old;
    size_t size_old;

    __sanitizer_finish_switch_fiber(fake_stack_save, &bottom_old, &size_old);
    /* The first switch of a thread always leaves the thread's own stack. */
    if (!ts->leader_stack_bottom) {
        ts->leader_stack_bottom = bottom_old;
        ts->leader_stack_size = size_old;
    }
#endif
}

/* ---- creation ---- */

/* makecontext() passes int arguments only: split the pointer in two. */
union CoroutinePtrArgs {
    Coroutine *co;
    int i[2];
};

typedef struct CoroutineStart {
    Coroutine *co;
    CoJmpBuf creator_env;
} CoroutineStart;

static void NO_SANITIZE_ADDRESS coroutine_trampoline(int i0, int i1)
{
    union CoroutinePtrArgs arg = { .i = { i0, i1 } };
    CoroutineStart *start = (CoroutineStart *)arg.co;
    Coroutine *co = start->co;
    void *fake_stack_save = NULL;

    asan_finish_switch(NULL);

    /* Park here; the first real switch to co lands after this co_setjmp(). */
    if (!co_setjmp(co->env)) {
        /* Back to the creator; `start` lives on its stack. */
        asan_start_switch(&fake_stack_save, qemu_coroutine_current());
        co_longjmp(start->creator_env, 1);
    }
    asan_finish_switch(fake_stack_save);

    for (;;) {
        co->entry(co->entry_arg);
        qemu_coroutine_switch(co, co->caller, COROUTINE_TERMINATE);
    }
}

Coroutine *qemu_coroutine_new(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    CoroutineStart start;
    union CoroutinePtrArgs arg;
    ucontext_t old_uc, uc;
    void *fake_stack_save = NULL;
    Coroutine *co;
    void *map;

    co = g_new0(Coroutine, 1);
    co->stack_size = COROUTINE_STACK_SIZE;
    co->map_size = co->stack_size + page;
    map = mmap(NULL, co->map_size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        fprintf(stderr, "blockd: failed to allocate a coroutine stack: %s\n",
                strerror(errno));
        abort();
    }
    /* Stacks grow down: the guard page is the lowest one. */
    if (mprotect(map, page, PROT_NONE) < 0) {
        fprintf(stderr, "blockd: failed to set a coroutine guard page: %s\n",
                strerror(errno));
        abort();
    }
    co->map_base = map;
    co->stack = (char *)map + page;
    co->co_queue_link.data = co;

    if (getcontext(&uc) == -1) {
        abort();
    }
    uc.uc_link = &old_uc;
    uc.uc_stack.ss_sp = co->stack;
    uc.uc_stack.ss_size = co->stack_size;
    uc.uc_stack.ss_flags = 0;

    start.co = co;
    arg.co = (Coroutine *)&start;
    makecontext(&uc, (void (*)(void))coroutine_trampoline, 2,
                arg.i[0], arg.i[1]);

    /* Run the trampoline until it parks itself, then come back. */
    if (!co_setjmp(start.creator_env)) {
        asan_start_switch(&fake_stack_save, co);
        swapcontext(&old_uc, &uc);
    }
    asan_finish_switch(fake_stack_save);
    return co;
}

void qemu_coroutine_delete(Coroutine *co)
{
    munmap(co->map_base, co->map_size);
    g_free(co);
}

/* ---- switching ---- */

CoroutineAction NO_SANITIZE_ADDRESS
qemu_coroutine_switch(Coroutine *from, Coroutine *to, CoroutineAction action)
{
    void *fake_stack_save = NULL;
    int ret;

    co_thread_state()->current = to;

    ret = co_setjmp(from->env);
    if (ret == 0) {
        /* A terminating coroutine's fake stack frames can be dropped. */
        asan_start_switch(action == COROUTINE_TERMINATE ? NULL : &fake_stack_save,
                          to);
        co_longjmp(to->env, action);
    }
    asan_finish_switch(fake_stack_save);
    return ret;
}
