#!/usr/bin/env bash
# A file share that two "hosts" see through independent network clients: an sshd on
# 127.0.0.1 exporting BASE/export over SFTP and N sshfs (FUSE) mounts of it at BASE/c1..cN.
# Each mount has its own client caches and its own connection, as separate hosts would.
#
# usage: sshfs-up.sh BASE [N=2] [extra sshfs -o options, comma separated]
# stop:  sshfs-down.sh BASE
# Port: $SSHFS_PORT, else a free one (kept in BASE/run/port). Idempotent: running it again
# keeps a live sshd and live mounts and repairs the rest.
#
# Mounted with dir_cache=no: by default sshfs caches directory entries for 20 s, so a mount
# that saw a lock directory keeps seeing it for up to ~21 s after another mount removed it,
# and a lock made with mkdir takes that long to change hands. Without the cache every lookup
# asks the server and the handoff takes under 1 ms (measured; see shared DESIGN.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
BASE=$(realpath -m "${1:?usage: sshfs-up.sh BASE [N=2] [extra sshfs options]}")
N=${2:-2}
EXTRA=${3:-}
R="$BASE/run"

ensure_packages sshfs openssh-server fuse3
mkdir -p "$BASE/export" "$R" /run/sshd
chmod 755 /run/sshd

if ! pid_alive "$R/sshd.pid"; then
    rm -f "$R/sshd.pid"
    [ -f "$R/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$R/hostkey"
    [ -f "$R/clientkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$R/clientkey"
    install -m 600 "$R/clientkey.pub" "$R/authorized_keys"
    PORT=${SSHFS_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    echo "$PORT" > "$R/port"
    cat > "$R/sshd_config" <<EOC
ListenAddress 127.0.0.1
Port $PORT
HostKey $R/hostkey
PidFile $R/sshd.pid
AuthorizedKeysFile $R/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
MaxStartups 100
MaxSessions 100
Subsystem sftp internal-sftp
EOC
    # sshd daemonizes once it listens and writes its pid file.
    /usr/sbin/sshd -f "$R/sshd_config" -E "$R/sshd.log" </dev/null >/dev/null 2>&1
    wait_for 50 pid_alive "$R/sshd.pid" || { echo "sshd did not start; see $R/sshd.log" >&2; exit 1; }
fi
PORT=$(cat "$R/port")

OPTS="IdentityFile=$R/clientkey,BatchMode=yes,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR,dir_cache=no${EXTRA:+,$EXTRA}"
CLIENTS=()
for i in $(seq 1 "$N"); do
    M="$BASE/c$i"
    CLIENTS+=("$M")
    if is_mounted "$M"; then
        timeout 5 stat "$M" >/dev/null 2>&1 && continue
        unmount_fuse "$M"    # a mount whose connection died
    fi
    mkdir -p "$M"
    # sshfs returns once the mount is up and then runs in the background.
    sshfs -p "$PORT" -o "$OPTS" "root@127.0.0.1:$BASE/export" "$M" </dev/null >>"$R/c$i.log" 2>&1 \
        || { echo "sshfs mount $M failed; see $R/c$i.log" >&2; exit 1; }
done
echo "sshfs up: export $BASE/export (port $PORT); clients: ${CLIENTS[*]}"
