#!/usr/bin/env bash
# A file share that N "hosts" see through independent SMB clients: Samba's smbd serving
# BASE/export inside a private network namespace (its own loopback, so port 445 is free and
# nothing is reachable from outside), and N smbnetfs (libsmbclient over FUSE) mounts.
# Client i sees the share at BASE/c$i/127.0.0.1/share.
#
# usage: smb-up.sh BASE [N=2]
# stop:  smb-down.sh BASE
# The namespace is $SMB_NETNS, else one named after BASE, so rigs on different BASEs do not
# collide. Idempotent: a live smbd and live mounts are kept, the rest is (re)started.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
BASE=$(realpath -m "${1:?usage: smb-up.sh BASE [N=2]}")
N=${2:-2}
NS=${SMB_NETNS:-dcs_smb_$(printf '%s' "$BASE" | cksum | cut -d' ' -f1)}
R="$BASE/run"

ensure_packages samba smbclient smbnetfs fuse3 iproute2
mkdir -p "$BASE/export" "$R"/{state,lock,private,cache,pid,ncalrpc,log} "$R/home/.smb"
chmod 777 "$BASE/export"
echo "$NS" > "$R/netns"

ip netns list | grep -qw "^$NS" || { ip netns add "$NS"; ip netns exec "$NS" ip link set lo up; }
# nsenter, not `ip netns exec`: the latter also enters a new mount namespace, and the FUSE
# mounts made inside it would be invisible to everyone else.
NSX=(nsenter "--net=/run/netns/$NS")

share_answers() { "${NSX[@]}" smbclient //127.0.0.1/share -U root%pass123 -c ls >/dev/null 2>&1; }

if ! pid_alive "$R/smbd.pid"; then
    cat > "$R/smb.conf" <<EOC
[global]
   workgroup = WORKGROUP
   server role = standalone server
   smb ports = 445
   disable netbios = yes
   state directory = $R/state
   lock directory = $R/lock
   private dir = $R/private
   cache directory = $R/cache
   pid directory = $R/pid
   ncalrpc dir = $R/ncalrpc
   log file = $R/log/log.%m
   passdb backend = tdbsam:$R/private/passdb.tdb
   load printers = no
   printcap name = /dev/null
   disable spoolss = yes
   server min protocol = SMB2
[share]
   path = $BASE/export
   read only = no
   force user = root
EOC
    printf 'pass123\npass123\n' | smbpasswd -c "$R/smb.conf" -s -a root >/dev/null
    # In a session of its own: smbd signals its whole process group when it stops, which
    # would otherwise be the group of whoever ran this script (and kill it).
    setsid "${NSX[@]}" /usr/sbin/smbd -F --no-process-group -s "$R/smb.conf" --debug-stdout -d 1 \
        </dev/null >"$R/smbd.out" 2>&1 &
    echo $! > "$R/smbd.pid"
    wait_for 100 share_answers || { echo "smbd does not answer; see $R/smbd.out" >&2; exit 1; }
fi

printf '[global]\n   client min protocol = SMB2\n   disable netbios = yes\n   name resolve order = host\n' \
    > "$R/home/.smb/smb.conf"
{
    cat /etc/smbnetfs.conf
    printf 'auth "127.0.0.1" "root" "pass123"\nhost 127.0.0.1 visible=true\nsmb_query_browsers false\n'
} > "$R/home/.smb/smbnetfs.conf"
chmod 600 "$R/home/.smb/smbnetfs.conf"

CLIENTS=()
for i in $(seq 1 "$N"); do
    M="$BASE/c$i"
    CLIENTS+=("$M/127.0.0.1/share")
    if is_mounted "$M"; then
        timeout 5 stat "$M/127.0.0.1/share" >/dev/null 2>&1 && continue
        unmount_fuse "$M"
    fi
    stop_pidfile "$R/c$i.pid"
    mkdir -p "$M"
    HOME="$R/home" setsid "${NSX[@]}" smbnetfs "$M" -f -o "config=$R/home/.smb/smbnetfs.conf" \
        </dev/null >"$R/c$i.log" 2>&1 &
    echo $! > "$R/c$i.pid"
done
for C in "${CLIENTS[@]}"; do
    wait_for 100 test -d "$C" || { echo "SMB client $C did not come up; see $R/c*.log" >&2; exit 1; }
done
echo "SMB up: share $BASE/export (netns $NS); clients: ${CLIENTS[*]}"
