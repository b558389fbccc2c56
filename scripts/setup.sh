#!/usr/bin/env bash
# Installs what building and testing need on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
if [ -f setup.py ]; then
    python3 -m pip install --quiet --disable-pip-version-check .
fi

# The network-filesystem rigs (scripts/netfs/, tests/python/test_netfs.py) need these Debian
# packages. Installed only when running as root with apt; dpkg -s keeps reruns instant.
NETFS_PACKAGES=(sshfs openssh-server fuse3 samba smbclient smbnetfs iproute2)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s "${NETFS_PACKAGES[@]}" >/dev/null 2>&1; then
    apt_install() {
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            --no-install-recommends "${NETFS_PACKAGES[@]}" >/dev/null
    }
    apt_install 2>/dev/null || { apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null && apt_install; } \
        || echo "setup.sh: could not install ${NETFS_PACKAGES[*]}; the netfs tests will fail" >&2
fi

# The fault-injection tests (tests/python/test_faults.py): strace -e inject, libfiu's fiu-run,
# and the FUSE fault filesystem (tests/faultfs.py, run with Debian's python3 and fusepy).
FAULT_PACKAGES=(strace fiu-utils fuse3 python3-fusepy)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s "${FAULT_PACKAGES[@]}" >/dev/null 2>&1; then
    fault_install() {
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            --no-install-recommends "${FAULT_PACKAGES[@]}" >/dev/null
    }
    fault_install 2>/dev/null || { apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null && fault_install; } \
        || echo "setup.sh: could not install ${FAULT_PACKAGES[*]}; the fault-injection tests will fail" >&2
fi
