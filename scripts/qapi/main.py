"""
main.py: command line of the QAPI schema compiler.

    qapi-gen.py [-o DIR] [-p PREFIX] [-b] [--suppress-tracing] [-u] SCHEMA

writes PREFIXqapi-{types,visit,commands,events,introspect}.{c,h} and
PREFIXqapi-commands.trace-events into DIR; -b also writes the built-in
list types and visitors (qapi-builtin-{types,visit}.{c,h}).
"""

import argparse
import sys

from .commands import gen_commands
from .error import QAPIError
from .events import gen_events
from .introspect import gen_introspect
from .schema import QAPISchema
from .types import gen_builtin_types, gen_types
from .visit import gen_builtin_visit, gen_visit


def main(argv=None):
    ap = argparse.ArgumentParser(description='Generate C code from a QAPI '
                                 'schema')
    ap.add_argument('-o', '--output-dir', default='.')
    ap.add_argument('-p', '--prefix', default='')
    ap.add_argument('-b', '--builtins', action='store_true',
                    help='also generate the built-in list types')
    ap.add_argument('-u', '--unmask-non-abi-names', action='store_true',
                    help='do not mask type names in introspection')
    ap.add_argument('--suppress-tracing', action='store_true')
    ap.add_argument('--check-only', action='store_true',
                    help='only parse and check the schema')
    ap.add_argument('schema')
    args = ap.parse_args(argv)
    try:
        schema = QAPISchema(args.schema)
    except QAPIError as e:
        print(e, file=sys.stderr)
        return 1
    if args.check_only:
        return 0
    files = []
    if args.builtins:
        files += gen_builtin_types(schema) + gen_builtin_visit(schema)
    files += gen_types(schema, args.prefix)
    files += gen_visit(schema, args.prefix)
    files += gen_commands(schema, args.prefix, not args.suppress_tracing)
    files += gen_events(schema, args.prefix)
    files += gen_introspect(schema, args.prefix, args.unmask_non_abi_names)
    for f in files:
        f.write(args.output_dir)
    return 0
