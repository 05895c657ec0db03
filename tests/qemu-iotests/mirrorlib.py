# mirrorlib.py: helpers of the mirror tests (100-119): a fio guest load
# through an NBD export run in the background, event sequences of a job,
# graph listings and image comparison.

import json
import os
import threading

import iotests

MiB = 1024 * 1024


def fio_jobs(uri, *extra, timeout=120):
    """Run fio's nbd engine against uri: (exit code, fio's jobs or None when
    it printed no JSON, its output)."""
    args = ['fio', '--output-format=json', '--name=guest', '--ioengine=nbd',
            '--uri=' + uri, '--verify_state_save=0'] + list(extra)
    rc, out = iotests.run_tool(args, timeout=timeout)
    try:
        return rc, json.loads(out[out.find('{'):])['jobs'], out
    except ValueError:
        return rc, None, out


def fio(uri, *extra, timeout=120):
    """Run fio's nbd engine against uri; a one-line summary."""
    rc, jobs, out = fio_jobs(uri, *extra, timeout=timeout)
    if jobs is None:
        return 'fio failed (exit %d): %s' % (rc, out[-2000:])
    return 'fio exit %d, errors %s' % (rc, sorted(set(j['error'] for j in jobs)))


class Load(threading.Thread):
    """fio in a thread: start(), join(), then .result."""

    def __init__(self, uri, *args):
        super().__init__()
        self.uri = uri
        self.args = args
        self.result = None

    def run(self):
        self.result = fio(self.uri, *self.args)


def events_until(d, names, job, timeout=60):
    """Event names (JOB_STATUS_CHANGE as the status) until one of names
    (an event name or a job status) arrives for job; events already queued
    by commands come first."""
    seq = []
    while True:
        if d.qmp.events:
            ev = d.qmp.events.pop(0)
        else:
            ev = d.qmp.recv_msg(timeout=timeout)
        if 'event' not in ev:
            continue
        name = ev['event']
        data = ev.get('data', {})
        if name == 'JOB_STATUS_CHANGE':
            seq.append(data['status'])
        elif name == 'BLOCK_JOB_ERROR':
            seq.append('%s(%s,%s)' % (name, data['operation'], data['action']))
        else:
            seq.append(name + ('(error)' if data.get('error') else ''))
        if name in names and data.get('device', data.get('id')) == job:
            return seq
        if name == 'JOB_STATUS_CHANGE' and data['id'] == job and \
           data['status'] in names:
            return seq


def nodes(d):
    """(node-name, driver) of the named nodes, auto-named ones left out."""
    return sorted((n['node-name'], n['drv'])
                  for n in d.command('query-named-block-nodes')
                  if not n['node-name'].startswith('#'))


def drivers(d):
    return sorted(set(n['drv'] for n in d.command('query-named-block-nodes')))


def compare(a, b, fa='raw', fb='raw'):
    return iotests.qemu_img('compare', '-f', fa, '-F', fb, a, b,
                            check=False).strip().splitlines()[0]


def make_raw(path, size, *qemu_io_cmds):
    with open(path, 'wb') as f:
        f.truncate(size)
    if qemu_io_cmds:
        args = ['-f', 'raw']
        for c in qemu_io_cmds:
            args += ['-c', c]
        iotests.qemu_io(*(args + [path]))


def job_info(d, job):
    for j in d.command('query-block-jobs'):
        if j['device'] == job:
            return j
    return None
