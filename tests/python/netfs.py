"""The network-filesystem test rigs (scripts/netfs/) from Python.

    with sshfs_mounts('/tmp/rig') as mounts:     # ['/tmp/rig/c1', '/tmp/rig/c2']
        ...                                       # one share, seen through two client mounts

Each mount is an independent network client of one share (its own connection and caches),
which is how two hosts see it. The rigs need root, FUSE and the Debian packages the scripts
install; `skip_reason()` says when they cannot run here.
"""

import contextlib
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, 'scripts', 'netfs')

RIGS = ('sshfs', 'smb')
PACKAGES = {
    'sshfs': ('sshfs', 'openssh-server', 'fuse3'),
    'smb': ('samba', 'smbclient', 'smbnetfs', 'fuse3', 'iproute2'),
}
# Bringing a rig up or down takes about a second, but the first run may install packages;
# the bound is there so that a hung FUSE mount cannot hang the tests.
SCRIPT_TIMEOUT = 600


def _packages_installed(packages):
    if not shutil.which('dpkg'):
        return False
    return subprocess.run(['dpkg', '-s', *packages], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def skip_reason(rig=None):
    """Why the rig (`'sshfs'`, `'smb'`, or both when None) cannot run on this machine, or None."""
    if not sys.platform.startswith('linux'):
        return 'netfs rigs need Linux (FUSE, network namespaces)'
    if os.geteuid() != 0:
        return 'netfs rigs need root (sshd, smbd, FUSE mounts, network namespaces)'
    if not os.path.exists('/dev/fuse'):
        return 'netfs rigs need FUSE and /dev/fuse is missing'
    for name in RIGS if rig is None else (rig,):
        packages = PACKAGES[name]
        if not _packages_installed(packages) and not shutil.which('apt-get'):
            return '%s rig needs Debian packages %s: not installed and no apt-get to install them' % (
                name, ' '.join(packages))
        if name == 'smb':
            for tool in ('nsenter', 'setsid'):
                if not shutil.which(tool):
                    return 'smb rig needs %s (util-linux)' % tool
    return None


def _run(script, *args):
    proc = subprocess.run(['bash', os.path.join(SCRIPTS, script), *map(str, args)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=SCRIPT_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError('%s %s failed (exit %d):\n%s' % (
            script, ' '.join(map(str, args)), proc.returncode, proc.stdout))
    return proc.stdout


@contextlib.contextmanager
def _rig(up, down, base, n, client_path):
    base = os.path.abspath(base)
    os.makedirs(base, exist_ok=True)
    try:
        _run(up, base, n)
        yield [client_path(base, i) for i in range(1, n + 1)]
    finally:
        _run(down, base)


def sshfs_mounts(base, n=2):
    """Context manager: an sshfs share under `base`; yields the n client mount paths."""
    return _rig('sshfs-up.sh', 'sshfs-down.sh', base, n,
                lambda b, i: os.path.join(b, 'c%d' % i))


def smb_mounts(base, n=2):
    """Context manager: a Samba share under `base`; yields the n client paths of the share."""
    return _rig('smb-up.sh', 'smb-down.sh', base, n,
                lambda b, i: os.path.join(b, 'c%d' % i, '127.0.0.1', 'share'))


def mounts(rig, base, n=2):
    """`sshfs_mounts` or `smb_mounts` by name."""
    return {'sshfs': sshfs_mounts, 'smb': smb_mounts}[rig](base, n)
