#!/usr/bin/env python3
"""
tracetool.py: generate blockd's tracing code from trace-events files.

    tracetool.py --format=h --group=util --backends=log,dtrace \
                 -o trace/trace-util.h util/trace-events
    tracetool.py --format=c --group=util ... -o trace/trace-util.c util/trace-events
    tracetool.py --format=registry -o trace/trace-events-all.c FILE...

Errors in an input file are printed as FILE:LINE: message, exit status 1.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tracetool import TraceError                          # noqa: E402
from tracetool.backends import make_backends              # noqa: E402
from tracetool.events import check_unique, read_events    # noqa: E402
from tracetool.generate import gen_c, gen_h, gen_registry  # noqa: E402


def group_name(directory):
    """'block/export' -> 'block_export'; '.' or '' -> 'root'."""
    d = directory.strip("/")
    if d in ("", "."):
        return "root"
    return d.replace("/", "_").replace("-", "_")


def display_name(path):
    """'../util/trace-events' -> 'util/trace-events' for the header note."""
    parts = os.path.normpath(path).split(os.sep)
    return "/".join(parts[-2:])


def parse_cmdline(argv):
    p = argparse.ArgumentParser(description="blockd trace code generator")
    p.add_argument("--format", required=True, choices=["h", "c", "registry"])
    p.add_argument("--group", help="group name (default: from --dir)")
    p.add_argument("--dir", help="source directory of the trace-events file")
    p.add_argument("--backends", default="log",
                   help="comma-separated list of log, dtrace, nop")
    p.add_argument("--register", action="store_true",
                   help="c format: register the group with a constructor")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.add_argument("inputs", nargs="*")
    args = p.parse_args(argv)
    if args.format != "registry" and len(args.inputs) != 1:
        p.error("formats h and c take exactly one input file")
    if args.group is None and args.format != "registry":
        args.group = group_name(args.dir if args.dir is not None
                                else os.path.dirname(args.inputs[0]))
    if args.group is not None and not re.match(r"^[A-Za-z_]\w*$", args.group):
        p.error(f"invalid group name '{args.group}'")
    return args


def run(argv):
    args = parse_cmdline(argv)
    try:
        backends = make_backends([b for b in args.backends.split(",") if b])
    except ValueError as e:
        print(f"tracetool: {e}", file=sys.stderr)
        return 1
    try:
        events = []
        for f in args.inputs:
            events += read_events(f)
        check_unique(events)
    except TraceError as e:
        print(f"{e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"tracetool: {e}", file=sys.stderr)
        return 1

    sources = [display_name(f) for f in args.inputs]
    if args.format == "h":
        text = gen_h(args.group, events, backends, sources)
    elif args.format == "c":
        text = gen_c(args.group, events, backends, sources, args.register)
    else:
        text = gen_registry(events, sources)

    if args.output:
        tmp = args.output + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, args.output)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
