"""
benchlib.py: what the benchmark scripts in bench/ share: size arguments,
a fully allocated source file, dropping a file from the page cache, a
daemon (blockd or qemu-storage-daemon) exporting one node over NBD, and
fio runs through the NBD engine.  Benchmarks only: nothing here runs in
make check.
"""

import json
import os
import signal
import socket
import subprocess
import time

MiB = 1 << 20


def parse_size(text):
    """'4G', '512m', '1.5g', '1048576' -> bytes (k, m, g, t: powers of 1024)."""
    units = {'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}
    text = text.strip().lower()
    if text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def make_random_raw(path, size):
    """A fully allocated raw file with non-repeating, non-zero data."""
    block = bytearray(os.urandom(MiB))
    with open(path, 'wb') as f:
        for i in range(size // MiB):
            block[0:8] = i.to_bytes(8, 'little')
            f.write(block)
        f.flush()
        os.fsync(f.fileno())


def drop_cache(path):
    """Best effort: evict path from the page cache so every run reads disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    except OSError:
        pass


class NbdDaemon:
    """blockd or qemu-storage-daemon (same command line) with one --blockdev
    whose node `node` is exported as 'disk' on the unix socket sock."""

    def __init__(self, binary, blockdev, node, sock, stop_timeout=10,
                 name=None):
        self.sock = sock
        self.stop_timeout = stop_timeout
        if os.path.exists(sock):
            os.unlink(sock)
        self.proc = subprocess.Popen(
            [binary, '--blockdev', blockdev,
             '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
             '--export', 'nbd,id=e0,node-name=%s,name=disk,writable=on' % node],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while not self._ready():
            if self.proc.poll() is not None or time.time() > deadline:
                err = self.proc.stderr.read().decode(errors='replace')
                raise RuntimeError('%s did not start: %s'
                                   % (name or binary, err))
            time.sleep(0.05)

    def _ready(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    @property
    def uri(self):
        return 'nbd+unix:///disk?socket=' + self.sock

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _fio_job(args):
    """Run fio with JSON output; its first job's results."""
    out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         check=False).stdout.decode(errors='replace')
    return json.loads(out[out.find('{'):])['jobs'][0]


def run_fio(uri, rw, bs, iodepth, size, runtime, ramp_time=0):
    """One fio workload through the NBD export at uri: (IOPS, MB/s) of
    its reads (rw names a read) or writes."""
    args = ['fio', '--output-format=json', '--name=bench', '--ioengine=nbd',
            '--uri=' + uri, '--rw=' + rw, '--bs=' + bs,
            '--iodepth=%d' % iodepth, '--size=%d' % size, '--time_based',
            '--runtime=%d' % runtime, '--numjobs=1', '--randrepeat=0',
            '--norandommap']
    if ramp_time:
        args.append('--ramp_time=%d' % ramp_time)
    job = _fio_job(args)
    if job['error']:
        raise RuntimeError('fio error %d' % job['error'])
    side = job['read'] if 'read' in rw else job['write']
    return side['iops'], side['bw_bytes'] / 1e6


def fio_guest_load(sock, runtime, iodepth):
    """A guest's load on the export 'disk' at sock while a job runs: 4 KiB
    random writes capped at 2000 IOPS; fio's write results."""
    return _fio_job(['fio', '--output-format=json', '--name=guest',
                     '--ioengine=nbd', '--uri=nbd+unix:///disk?socket=' + sock,
                     '--rw=randwrite', '--bs=4k', '--iodepth=%d' % iodepth,
                     '--rate_iops=2000', '--time_based',
                     '--runtime=%d' % runtime, '--randrepeat=0'])['write']
