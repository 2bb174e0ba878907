# shellcheck shell=bash
# Shared helpers for airlock's shell scripts. Source it; it defines functions
# and sets nothing else but AIRLOCK_SRCDIR.

AIRLOCK_SRCDIR=${AIRLOCK_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# Elapsed-time progress lines: "[ 12s] message"
_airlock_t0=${_airlock_t0:-$SECONDS}
say() { printf '[%3ds] %s\n' "$((SECONDS - _airlock_t0))" "$*"; }
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root${1:+ ($1)}"; }

# True when systemd is PID 1.
have_systemd() { [ -d /run/systemd/system ] && grep -qsx systemd /proc/1/comm; }

# A python3 that is the system's, not a pyenv shim.
system_python() {
    if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi
}

# pid of a running process whose executable basename is $1 (exact), or fail.
pid_of_exe() {
    local p exe
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        exe=${exe% (deleted)}
        if [ "${exe##*/}" = "$1" ]; then echo "${p#/proc/}"; return 0; fi
    done
    return 1
}
