#!/usr/bin/env python3
#
# demo.py: `make demo`, blockd's main job end to end -- live storage
# migration of a disk that a guest is writing to.
#
#  1. A 1 GiB raw disk full of data, exported by blockd over NBD (writable).
#  2. A guest-like fio load (nbd engine, 4k-64k random writes, crc32c
#     verify, a moderate fixed rate) writes through the export while the
#     disk is mirrored live to a new qcow2 image (blockdev-mirror), with
#     blockd-ctl's progress bar, until READY.
#  3. The load ends (fio verifies its writes through the export); the job
#     is completed: the pivot.  The export now runs on the qcow2 image.
#  4. Checks, each of which can fail:
#     - qemu-img compare: the old raw disk (frozen at the pivot) equals the
#       live disk read through the export, i.e. the qcow2 holds every write
#       acknowledged before the pivot, and the data from before the mirror;
#     - a second fio load after the pivot writes a separate region through
#       the export (now qcow2) and verifies it;
#     - blockd quits; qemu-img check finds no errors and no leaks in the
#       qcow2; qemu-img compare says the region the second load did not
#       touch still equals the old raw disk; a fresh blockd exports the
#       qcow2 and an fio verify-only pass finds every write of the second
#       load.
#  5. A short report: mirror MB/s, time to READY, guest IOPS before, during
#     and after the mirror, the results of the checks.
#
# Exit status 0 when every check passed, 1 when one failed, 2 when the
# demo could not run (missing tool, blockd without blockdev-mirror, ...).
# Every process it starts is killed and the scratch directory removed at
# exit (--keep keeps the files).  See docs/demo.md.

import argparse
import atexit
import glob
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20
GiB = 1 << 30

BSSPLIT = '4k/40:16k/30:64k/30'


class DemoError(Exception):
    """The demo cannot run at all (exit status 2)."""


# --------------------------------------------------------------------------
# Processes and cleanup
# --------------------------------------------------------------------------

_procs = []
_scratch = []       # directories to remove at exit


def _remove_scratch():
    for path in _scratch:
        shutil.rmtree(path, True)


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            except OSError:
                pass


def _on_signal(signum, frame):
    _cleanup()
    _remove_scratch()
    sys.stderr.write('\ndemo: interrupted\n')
    os._exit(130)


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _procs.append(p)
    return p


def say(text=''):
    sys.stdout.write(text + '\n')
    sys.stdout.flush()


def step(text):
    say('\n== ' + text)


# --------------------------------------------------------------------------
# blockd and blockd-ctl
# --------------------------------------------------------------------------

def load_ctl_module(path):
    """blockd-ctl is a script; load it as a module to reuse its QMP class."""
    loader = importlib.machinery.SourceFileLoader('blockd_ctl', path)
    spec = importlib.util.spec_from_loader('blockd_ctl', loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class Blockd:
    """One blockd process with two QMP monitors: #0 for the demo's own
    connection (it collects events), #1 for blockd-ctl calls."""

    def __init__(self, demo, name, args):
        self.demo = demo
        self.name = name
        self.sock = [os.path.join(demo.sock_dir, '%s-qmp%d.sock' % (name, i))
                     for i in range(2)]
        argv = [demo.blockd]
        for i, path in enumerate(self.sock):
            argv += ['--chardev', 'socket,id=qmp%d,path=%s,server=on,wait=off'
                     % (i, path), '--monitor', 'chardev=qmp%d' % i]
        argv += args
        self.log = open(os.path.join(demo.dir, name + '.log'), 'w')
        self.proc = spawn(argv, stdout=self.log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.sock[0]):
            if self.proc.poll() is not None:
                raise DemoError('%s exited at start (status %s): %s'
                                % (name, self.proc.returncode,
                                   self.log_text()[-2000:]))
            if time.monotonic() > deadline:
                raise DemoError('%s did not create its QMP socket' % name)
            time.sleep(0.05)
        self.qmp = demo.ctl.QMP(self.sock[0], 30)
        self.qmp.read_greeting()
        self.qmp.negotiate()
        self.events = []

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def command(self, name, args=None):
        reply = self.qmp.cmd(name, args, on_event=self._queue)
        if 'error' in reply:
            raise self.demo.ctl.QMPCommandError(reply)
        return reply.get('return')

    def _queue(self, msg, raw=None):
        self.events.append(msg)

    def drain_events(self, timeout=0.0):
        deadline = time.monotonic() + timeout
        while True:
            msg, _ = self.qmp.recv(max(deadline - time.monotonic(), 0))
            if msg is None:
                return
            if 'event' in msg:
                self.events.append(msg)

    def wait_event(self, names, job, timeout):
        """First event among names for job id `job` (queued or arriving)."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                data = ev.get('data', {})
                if ev['event'] in names and \
                        job in (data.get('device'), data.get('id')):
                    self.events.remove(ev)
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.drain_events(min(left, 0.5))

    def ctl(self, *words, show=True, check=True):
        """Run blockd-ctl on monitor 1, echoing the command line."""
        argv = [self.demo.ctl_path, '-s', self.sock[1]] + list(words)
        if show:
            say('$ blockd-ctl -s %s %s' % (os.path.basename(self.sock[1]),
                                           ' '.join(words)))
        res = subprocess.run(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=120)
        out = res.stdout.strip()
        if show and out:
            say('  ' + out.replace('\n', '\n  '))
        if check and res.returncode != 0:
            raise Failure('blockd-ctl %s failed (exit %d): %s'
                          % (words[0], res.returncode, out))
        return res.returncode, out

    def quit(self):
        try:
            self.command('quit')
        except Exception:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.qmp.close()
        return self.proc.returncode


class Failure(Exception):
    """A check failed (exit status 1)."""


# --------------------------------------------------------------------------
# fio
# --------------------------------------------------------------------------

class Fio:
    """An fio run through the NBD export, in the background."""

    def __init__(self, demo, name, args):
        self.name = name
        self.out = os.path.join(demo.dir, name + '.json')
        self.log_prefix = os.path.join(demo.dir, name)
        argv = ['fio', '--output-format=json', '--output=' + self.out,
                '--name=' + name, '--ioengine=nbd', '--uri=' + demo.uri,
                '--verify=crc32c', '--verify_fatal=1',
                '--verify_state_save=0'] + args
        self.start = time.time()
        self.proc = spawn(argv, cwd=demo.dir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
        self.output = ''
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        self.output = self.proc.stdout.read()

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure('fio %s did not finish in %d s' % (self.name,
                                                           timeout))
        self.thread.join(5)
        try:
            with open(self.out) as f:
                text = f.read()
            self.result = json.loads(text[text.find('{'):])
        except (OSError, ValueError):
            raise Failure('fio %s failed (exit %d): %s'
                          % (self.name, self.proc.returncode,
                             self.output[-2000:]))
        return self.result

    def summary(self):
        """(exit status, errors, write ios, read (verified) bytes, iops)."""
        jobs = self.result['jobs']
        errors = sorted(set(j['error'] for j in jobs))
        writes = sum(j['write']['total_ios'] for j in jobs)
        verified = sum(j['read']['io_bytes'] for j in jobs)
        iops = sum(j['write']['iops'] for j in jobs)
        return self.proc.returncode, errors, writes, verified, iops

    def iops_between(self, t0, t1):
        """Guest write IOPS averaged over wall-clock window [t0, t1], from
        fio's per-job IOPS logs (--write_iops_log)."""
        total = 0.0
        for path in glob.glob(self.log_prefix + '_iops.*.log'):
            vals = []
            with open(path) as f:
                for line in f:
                    parts = [x.strip() for x in line.split(',')]
                    if len(parts) < 3 or parts[2] != '1':
                        continue
                    t = self.start + int(parts[0]) / 1000.0
                    if t0 <= t <= t1:
                        vals.append(int(parts[1]))
            if vals:
                total += sum(vals) / len(vals)
        return total


# --------------------------------------------------------------------------
# The demo
# --------------------------------------------------------------------------

class Demo:
    def __init__(self, opts):
        self.opts = opts
        build = os.path.abspath(opts.build)
        self.blockd = os.path.abspath(opts.blockd) if opts.blockd \
            else os.path.join(build, 'blockd')
        self.build = build
        self.ctl_path = os.path.join(build, 'tools', 'blockd-ctl')
        if not os.path.exists(self.ctl_path):
            self.ctl_path = os.path.join(REPO, 'tools', 'blockd-ctl')
        self.ctl = load_ctl_module(self.ctl_path)
        self.size = opts.size
        self.checks = []
        self.figures = []

    # -- set-up ------------------------------------------------------------

    def require(self):
        if not os.access(self.blockd, os.X_OK):
            raise DemoError('no blockd binary at %s (build first: make)'
                            % self.blockd)
        for tool in ('fio', 'qemu-img'):
            if not shutil.which(tool):
                raise DemoError('%s is not installed '
                                '(scripts/install-deps.sh installs it)' % tool)
        res = subprocess.run(['fio', '--enghelp=nbd'], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if res.returncode != 0 or 'uri' not in res.stdout:
            raise DemoError('this fio has no nbd engine (libnbd)')

    def make_dir(self):
        if self.opts.dir:
            self.dir = os.path.abspath(self.opts.dir)
            if os.path.exists(self.dir):
                shutil.rmtree(self.dir)
            os.makedirs(self.dir)
        else:
            self.dir = tempfile.mkdtemp(prefix='blockd-demo-', dir='/tmp')
        if not self.opts.keep:
            _scratch.append(self.dir)
        self.src = os.path.join(self.dir, 'disk.raw')
        self.tgt = os.path.join(self.dir, 'disk.qcow2')
        # unix socket paths hold 107 bytes: keep sockets in a short directory
        self.sock_dir = self.dir
        if len(self.dir) > 60:
            self.sock_dir = tempfile.mkdtemp(prefix='bd-demo-', dir='/tmp')
            _scratch.append(self.sock_dir)
        self.nbd_sock = os.path.join(self.sock_dir, 'nbd.sock')
        self.uri = 'nbd+unix:///disk?socket=' + self.nbd_sock

    def fill_source(self):
        """A disk full of data, so the mirror has everything to copy."""
        chunk = os.urandom(8 * MiB)
        with open(self.src, 'wb') as f:
            left = self.size
            i = 0
            while left > 0:
                n = min(len(chunk), left)
                # vary each chunk a little: no two 8 MiB chunks are equal
                f.write(i.to_bytes(8, 'little') + chunk[8:n])
                left -= n
                i += 1

    def check(self, what, ok, detail=''):
        self.checks.append((what, ok, detail))
        say('  %s: %s%s' % (what, 'ok' if ok else 'FAILED',
                            ' (%s)' % detail if detail else ''))
        return ok

    def figure(self, what, value):
        self.figures.append((what, value))

    # -- phases ------------------------------------------------------------

    def start_blockd(self):
        step('blockd exports a %d MiB raw disk over NBD'
             % (self.size // MiB))
        self.d = Blockd(self, 'blockd', [
            '--blockdev', 'file,node-name=disk0,filename=%s' % self.src,
            '--nbd-server', 'addr.type=unix,addr.path=%s' % self.nbd_sock,
            '--export', 'nbd,id=export0,node-name=disk0,name=disk,'
                        'writable=on'])
        cmds = self.d.command('query-commands')
        if 'blockdev-mirror' not in [c['name'] for c in cmds]:
            raise DemoError('this blockd has no blockdev-mirror command: the '
                            'mirror job (issue 5) is not built in, so there '
                            'is nothing to demonstrate')
        say('blockd pid %d, export nbd+unix:///disk' % self.d.proc.pid)

    def guest_load(self):
        region = self.size * 3 // 4
        per_job = region // 2
        step('guest load: fio randwrite %s, 2 jobs x qd8 at %d MB/s each, '
             'crc32c verify of every write, %d s'
             % (BSSPLIT, self.opts.rate_mb, self.opts.runtime))
        self.load = Fio(self, 'guest', [
            '--rw=randwrite', '--bssplit=' + BSSPLIT, '--iodepth=8',
            '--numjobs=2', '--size=%d' % per_job,
            '--offset_increment=%d' % per_job, '--randseed=2024',
            '--rate=%dm' % self.opts.rate_mb, '--time_based',
            '--runtime=%d' % self.opts.runtime, '--verify_backlog=64',
            '--write_iops_log=' + os.path.join(self.dir, 'guest'),
            '--log_avg_msec=500'])
        self.region1 = region
        time.sleep(self.opts.warmup)
        if not self.load.running():
            self.load.wait(10)
            raise Failure('fio ended early: %s' % self.load.output[-2000:])

    def mirror(self):
        step('mirror the live disk to a new qcow2 image')
        img = os.path.join(self.build, 'tools', 'blockd-img')
        tool = img if os.access(img, os.X_OK) else 'qemu-img'
        res = subprocess.run([tool, 'create', '-f', 'qcow2', self.tgt,
                              str(self.size)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        say('$ %s create -f qcow2 disk.qcow2 %d' % (os.path.basename(tool),
                                                   self.size))
        if res.returncode != 0:
            raise Failure('creating the qcow2 failed: %s' % res.stdout)
        self.d.ctl('blockdev-add', 'driver=qcow2', 'node-name=target0',
                   'file.driver=file', 'file.filename=%s' % self.tgt)
        mode = self.opts.copy_mode
        words = ['blockdev-mirror', 'job-id=mirror0', 'device=disk0',
                 'target=target0', 'sync=full']
        if mode == 'auto-converge':
            words += ['x-auto-converge=true']
        else:
            words += ['copy-mode=' + mode]
        self.mirror_start = time.time()
        self.d.ctl(*words)
        say('$ blockd-ctl -s %s jobs --watch --until ready'
            % os.path.basename(self.d.sock[1]))
        watch = subprocess.run([self.ctl_path, '-s', self.d.sock[1], 'jobs',
                                '--watch', '--until', 'ready',
                                '--interval', '0.5', '--timeout', '600'],
                               timeout=660)
        ev = self.d.wait_event(('BLOCK_JOB_READY', 'BLOCK_JOB_COMPLETED',
                                'BLOCK_JOB_CANCELLED'), 'mirror0', 60)
        if ev is None or ev['event'] != 'BLOCK_JOB_READY':
            raise Failure('the mirror did not reach READY: %s (blockd-ctl '
                          'jobs exit %d)' % (json.dumps(ev), watch.returncode))
        ts = ev['timestamp']
        self.ready_time = ts['seconds'] + ts['microseconds'] / 1e6
        to_ready = self.ready_time - self.mirror_start
        copied = ev['data']['offset']
        self.figure('time to READY', '%.1f s' % to_ready)
        self.figure('mirror throughput', '%.0f MB/s (%.0f MiB copied '
                    'before READY)' % (copied / to_ready / 1e6,
                                       copied / MiB))
        self.check('READY while the guest was writing', self.load.running(),
                   'fio still running' if self.load.running() else
                   'fio had already ended: raise --runtime')

    def finish_load(self):
        step('the guest load ends (fio read back and verified its writes '
             'as it went, through the export)')
        self.load.wait(self.opts.runtime + 300)
        rc, errors, writes, verified, iops = self.load.summary()
        self.check('fio during the mirror: no I/O or verify error',
                   rc == 0 and errors == [0] and verified > 0,
                   'exit %d, %d writes, %.0f MiB verified'
                   % (rc, writes, verified / MiB))
        end = self.load.start + self.opts.runtime
        before = self.load.iops_between(self.load.start + 0.5,
                                        self.mirror_start)
        during = self.load.iops_between(self.mirror_start, self.ready_time)
        after = self.load.iops_between(self.ready_time, end)
        self.figure('guest write IOPS before / during / after (READY) the '
                    'mirror', '%.0f / %.0f / %.0f (fio total %.0f)'
                    % (before, during, after, iops))
        p99 = max(j['write']['clat_ns']['percentile'].get('99.000000', 0)
                  for j in self.load.result['jobs'])
        self.figure('guest write latency p99 (whole load)',
                    '%.2f ms' % (p99 / 1e6))

    def pivot(self):
        step('pivot: job-complete switches the export to the qcow2 image')
        self.d.ctl('job-complete', 'id=mirror0')
        ev = self.d.wait_event(('BLOCK_JOB_COMPLETED', 'BLOCK_JOB_CANCELLED'),
                               'mirror0', 120)
        ok = ev is not None and ev['event'] == 'BLOCK_JOB_COMPLETED' and \
            not ev['data'].get('error')
        self.check('BLOCK_JOB_COMPLETED without error', ok,
                   json.dumps(ev['data']) if ev else 'no event')
        if not ok:
            raise Failure('the mirror did not complete')
        # The old raw disk is now unused (the frozen state as of the
        # pivot): blockd can delete its node only if nothing, the export
        # included, still uses it.
        rc, out = self.d.ctl('blockdev-del', 'node-name=disk0', check=False)
        self.check('the export left the raw disk (blockdev-del disk0)',
                   rc == 0, out if rc else '')
        nodes = {n['node-name']: n['drv']
                 for n in self.d.command('query-named-block-nodes')}
        say('  nodes now: %s' % ', '.join('%s (%s)' % kv
                                          for kv in sorted(nodes.items())))

    def compare_live(self):
        step('qemu-img compare: the old raw disk against the live disk read '
             'through the export')
        res = subprocess.run(['qemu-img', 'compare', '-f', 'raw', '-F', 'raw',
                              self.src, self.uri], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=600)
        self.check('live disk identical to the source as of the pivot',
                   res.returncode == 0, res.stdout.strip())

    def load_after_pivot(self):
        off = self.region1
        size = self.size - off
        step('a second fio load after the pivot: randwrite %d MiB at offset '
             '%d MiB through the export (now qcow2), then verify'
             % (size // MiB, off // MiB))
        self.load2_args = [
            '--rw=randwrite', '--bssplit=' + BSSPLIT, '--iodepth=16',
            '--numjobs=2', '--offset=%d' % off, '--size=%d' % (size // 2),
            '--offset_increment=%d' % (size // 2), '--randseed=77']
        load2 = Fio(self, 'after', self.load2_args + ['--do_verify=1'])
        load2.wait(600)
        rc, errors, writes, verified, iops = load2.summary()
        self.check('fio after the pivot: no I/O or verify error',
                   rc == 0 and errors == [0] and verified > 0,
                   'exit %d, %d writes at %.0f IOPS, %.0f MiB verified'
                   % (rc, writes, iops, verified / MiB))
        self.figure('guest write IOPS after the pivot (qcow2, no rate '
                    'limit)', '%.0f' % iops)

    def final_checks(self):
        step('quit blockd; check the qcow2 image on disk')
        status = self.d.quit()
        self.check('blockd quit', status == 0, 'exit status %s' % status)
        res = subprocess.run(['qemu-img', 'check', '--output=json', self.tgt],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            info = json.loads(res.stdout)
        except ValueError:
            info = {}
        bad = {k: info.get(k, 0) for k in ('corruptions', 'leaks',
                                           'check-errors')}
        self.check('qemu-img check: no errors, no leaks',
                   res.returncode == 0 and not any(bad.values()),
                   ', '.join('%s %d' % kv for kv in bad.items())
                   if info else res.stderr.strip())
        # The first 3/4 of the disk is not written after the pivot: it must
        # still equal the old raw disk, byte for byte, in the file itself.
        region = self.region1
        res = subprocess.run([
            'qemu-img', 'compare', '--image-opts',
            'driver=raw,offset=0,size=%d,file.driver=file,file.filename=%s'
            % (region, self.src),
            'driver=raw,offset=0,size=%d,file.driver=qcow2,'
            'file.file.driver=file,file.file.filename=%s' % (region,
                                                            self.tgt)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=600)
        self.check('qcow2 file equals the source on the first %d MiB'
                   % (region // MiB), res.returncode == 0,
                   res.stdout.strip())

        step('a fresh blockd exports the qcow2 image; fio verify-only '
             'finds every write made after the pivot')
        d2 = Blockd(self, 'blockd2', [
            '--blockdev', 'file,node-name=file0,filename=%s' % self.tgt,
            '--blockdev', 'qcow2,node-name=disk1,file=file0',
            '--nbd-server', 'addr.type=unix,addr.path=%s' % self.nbd_sock,
            '--export', 'nbd,id=export0,node-name=disk1,name=disk,'
                        'writable=on'])
        verify = Fio(self, 'verify', self.load2_args + ['--verify_only'])
        verify.wait(600)
        rc, errors, writes, verified, iops = verify.summary()
        self.check('fio verify-only after a restart',
                   rc == 0 and errors == [0] and verified > 0,
                   'exit %d, %.0f MiB verified' % (rc, verified / MiB))
        d2.quit()

    def report(self):
        say('\n' + '=' * 72)
        say('blockd demo: live mirror of a %d MiB raw disk to qcow2 under a '
            'guest load (%s)' % (self.size // MiB, self.opts.copy_mode))
        for what, value in self.figures:
            say('  %-58s %s' % (what, value))
        failed = [c for c in self.checks if not c[1]]
        for what, ok, detail in self.checks:
            say('  [%s] %s' % ('ok' if ok else 'FAIL', what))
        say('RESULT: %s (%d checks, %d failed)' % (
            'PASS' if not failed else 'FAIL', len(self.checks), len(failed)))
        return 1 if failed else 0

    def run(self):
        self.require()
        self.make_dir()
        step('scratch directory %s: a %d MiB raw disk full of data'
             % (self.dir, self.size // MiB))
        t = time.time()
        self.fill_source()
        say('written in %.1f s' % (time.time() - t))
        self.start_blockd()
        try:
            self.guest_load()
            self.mirror()
            self.finish_load()
            self.pivot()
            self.compare_live()
            self.load_after_pivot()
            self.final_checks()
        except Failure as e:
            self.check('demo step', False, str(e))
        except self.ctl.QMPCommandError as e:
            self.check('QMP command', False, str(e))
        except self.ctl.ConnError as e:
            self.check('QMP connection', False, str(e))
        return self.report()


def parse_size(text):
    """'1G', '512M', '1GiB', '1073741824' -> bytes."""
    m = re.match(r'^([0-9]+(?:\.[0-9]+)?)\s*([kmg]?)(?:i?b)?$',
                 text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError('bad size %r' % text)
    units = {'': 1, 'k': 1 << 10, 'm': MiB, 'g': GiB}
    return int(float(m.group(1)) * units[m.group(2)])


def main():
    p = argparse.ArgumentParser(description='blockd live-mirror demo')
    p.add_argument('--build', default=os.path.join(REPO, 'build'),
                   help='meson build directory (default build/)')
    p.add_argument('--blockd', help='the blockd binary (default BUILD/blockd)')
    p.add_argument('--dir', help='scratch directory (default: a fresh one '
                                 'under /tmp); emptied first')
    p.add_argument('--keep', action='store_true',
                   help='keep the scratch directory (images, logs)')
    p.add_argument('--size', type=parse_size, default=GiB,
                   help='disk size (default 1G)')
    p.add_argument('--runtime', type=int, default=20,
                   help='seconds of guest load during the mirror (default 20)')
    p.add_argument('--warmup', type=float, default=3.0,
                   help='seconds of load before the mirror starts (default 3)')
    p.add_argument('--rate-mb', type=int, default=16,
                   help='guest write rate per fio job in MB/s, 2 jobs '
                        '(default 16, about 650 IOPS each)')
    p.add_argument('--copy-mode', default='auto-converge',
                   choices=['write-blocking', 'background', 'auto-converge'],
                   help='mirror copy mode (default auto-converge: '
                        'background mode until blockd sees it cannot '
                        'catch up, then write-blocking)')
    opts = p.parse_args()
    if opts.size < 64 * MiB or opts.size % MiB:
        p.error('--size must be a whole number of MiB, at least 64 MiB')
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    atexit.register(_cleanup)
    try:
        status = Demo(opts).run()
    except DemoError as e:
        sys.stderr.write('demo: cannot run: %s\n' % e)
        status = 2
    _cleanup()
    _remove_scratch()
    sys.exit(status)


if __name__ == '__main__':
    main()
