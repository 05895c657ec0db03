"""
backends: the C code each trace backend contributes.

  log     qemu_log("PID@SEC.USEC:name " fmt "\\n", ...) when the event is
          enabled at run time (its _TRACE_<NAME>_DSTATE is set)
  dtrace  a USDT probe blockd:<name> (<sys/sdt.h>), fired on every call; a
          probe semaphore tells whether a tracer is attached, which
          trace_event_get_state_backends() uses
  nop     nothing
Each backend class provides header includes, per-event declarations, the
body of trace_<name>() and per-event definitions for the .c file.
"""

PROVIDER = "blockd"
KNOWN = ("log", "dtrace", "nop")


class Backend:
    name = "nop"

    def h_includes(self):
        return []

    def h_decls(self, ev):
        return []

    def backend_dstate(self, ev):
        """C expression: does this backend want the event right now?"""
        return None

    def h_body(self, ev):
        return []

    def c_defs(self, ev):
        return []


class LogBackend(Backend):
    name = "log"

    def h_includes(self):
        return ["#include <sys/time.h>", '#include "qemu/log.h"']

    def h_body(self, ev):
        args = "".join(f", {a}" for a in ev.arg_names())
        return [
            f"    if (trace_event_get_state(TRACE_{ev.upper})) {{",
            "        struct timeval _trace_now;",
            "        gettimeofday(&_trace_now, NULL);",
            f'        qemu_log("%d@%lu.%06lu:{ev.name} " {ev.fmt} "\\n",',
            "                 (int)getpid(), (unsigned long)_trace_now.tv_sec,",
            f"                 (unsigned long)_trace_now.tv_usec{args});",
            "    }",
        ]


class DtraceBackend(Backend):
    name = "dtrace"

    def h_includes(self):
        return ["#ifndef _SDT_HAS_SEMAPHORES",
                "#define _SDT_HAS_SEMAPHORES 1",
                "#endif",
                "#include <sys/sdt.h>"]

    @staticmethod
    def semaphore(ev):
        return f"{PROVIDER}_{ev.name}_semaphore"

    def h_decls(self, ev):
        return [f"extern unsigned short {self.semaphore(ev)};"]

    def backend_dstate(self, ev):
        return f"(*(volatile unsigned short *)&{self.semaphore(ev)} != 0)"

    def h_body(self, ev):
        args = "".join(f", {a}" for a in ev.arg_names())
        n = len(ev.args) if ev.args else ""
        return [f"    DTRACE_PROBE{n}({PROVIDER}, {ev.name}{args});"]

    def c_defs(self, ev):
        return [f"unsigned short {self.semaphore(ev)} "
                '__attribute__((section(".probes"))) __attribute__((used));']


def make_backends(names):
    """Backend objects for a list of names; raises ValueError if unknown."""
    table = {"log": LogBackend, "dtrace": DtraceBackend, "nop": Backend}
    out = []
    for n in names:
        if n not in table:
            raise ValueError(f"unknown trace backend '{n}' "
                             f"(known: {', '.join(KNOWN)})")
        out.append(table[n]())
    return out
