# Shared by the netfs rig scripts (sourced, not run).

# Installs the Debian packages given as arguments unless all are installed already.
ensure_packages() {
    dpkg -s "$@" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "missing Debian packages: $* (need root and apt-get to install them)" >&2
        return 1
    fi
    local apt=(apt-get -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@" >/dev/null 2>&1 || {
        apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@" >/dev/null
    }
}

# True when PATH is a mount point according to the kernel. mountpoint(1) stats the path,
# which fails on a FUSE mount whose daemon died ("Transport endpoint is not connected");
# the mount table still lists it and it still has to be unmounted.
is_mounted() {
    awk -v p="$1" '$2 == p { found = 1 } END { exit !found }' /proc/self/mounts
}

# Unmounts a FUSE mount, lazily if it is busy or its daemon is gone.
unmount_fuse() {
    is_mounted "$1" || return 0
    fusermount3 -u "$1" 2>/dev/null || fusermount -u "$1" 2>/dev/null || umount "$1" 2>/dev/null \
        || umount -l "$1"
}

# True when the pid file names a live process.
pid_alive() {
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# Stops the process named in a pid file (TERM, then KILL after 3 s) and removes the file.
stop_pidfile() {
    [ -f "$1" ] || return 0
    local pid i
    pid=$(cat "$1")
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

# Waits up to $2 tenths of a second for the command in the remaining arguments to succeed.
wait_for() {
    local tenths=$1 i
    shift
    for i in $(seq 1 "$tenths"); do "$@" && return 0; sleep 0.1; done
    "$@"
}
