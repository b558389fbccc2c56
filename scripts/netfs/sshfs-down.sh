#!/usr/bin/env bash
# Stops what sshfs-up.sh BASE started: unmounts every BASE/c* mount, then stops its sshd.
# Safe to run when nothing (or only part) is up. Leaves BASE's files in place.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
BASE=$(realpath -m "${1:?usage: sshfs-down.sh BASE}")
for M in "$BASE"/c*; do
    [ -d "$M" ] || is_mounted "$M" || continue
    unmount_fuse "$M"
done
# Connections die with the mounts; their sshd children exit with them. The listener:
stop_pidfile "$BASE/run/sshd.pid"
echo "sshfs down: $BASE"
