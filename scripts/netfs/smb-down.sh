#!/usr/bin/env bash
# Stops what smb-up.sh BASE started: unmounts the clients, stops smbnetfs and smbd (and
# anything else left in the rig's network namespace), deletes the namespace.
# Safe to run when nothing (or only part) is up. Leaves BASE's files in place.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
BASE=$(realpath -m "${1:?usage: smb-down.sh BASE}")
R="$BASE/run"
NS=${SMB_NETNS:-$(cat "$R/netns" 2>/dev/null || printf 'dcs_smb_%s' "$(printf '%s' "$BASE" | cksum | cut -d' ' -f1)")}
for M in "$BASE"/c*; do
    [ -d "$M" ] || is_mounted "$M" || continue
    unmount_fuse "$M"
done
for P in "$R"/c*.pid "$R/smbd.pid"; do
    stop_pidfile "$P"
done
if ip netns list 2>/dev/null | grep -qw "^$NS"; then
    # smbd's per-connection children, should any outlive their parent.
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
fi
echo "SMB down: $BASE"
