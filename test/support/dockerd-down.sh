#!/usr/bin/env bash
# Stop a test dockerd of the suite (started by dockerd-up.sh; CHD_TEST_DOCKERD as there): remove
# its containers, stop the daemon (and the containerd it manages), delete its bridge. Idempotent.
#   --purge  also delete its data root (images) and run directory.
set -euo pipefail
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin  # ip lives in sbin; a non-login shell may lack it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# CHD_TEST_DOCKERD=parallel: the parallel lane's dockerd (dockerd-env-parallel.sh) instead.
case "${CHD_TEST_DOCKERD:-}" in
  '') env_file=dockerd-env.sh ;;
  parallel) env_file=dockerd-env-parallel.sh ;;
  *) echo "${0##*/}: CHD_TEST_DOCKERD must be empty or 'parallel', not '$CHD_TEST_DOCKERD'" >&2; exit 1 ;;
esac
# shellcheck source=dockerd-env.sh
. "$here/$env_file"

stop_timeout=${CHD_TEST_DOCKERD_STOP_TIMEOUT:-30}

die() { echo "dockerd-down: $*" >&2; exit 1; }
docker_cli() { docker --host "unix://$CHD_TEST_DOCKER_SOCK" "$@"; }

purge=false
case "${1:-}" in
  '') ;;
  --purge) purge=true ;;
  *) die "unknown argument '$1' (usage: dockerd-down.sh [--purge])" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root"

# $1: pidfile, $2: expected /proc/<pid>/comm. Prints the pid if that process is alive.
live_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  echo "$pid"
}

# $1: pid. SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + stop_timeout))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "dockerd-down: pid $pid still running after ${stop_timeout}s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
}

# Mounts a stopped dockerd leaves behind (e.g. the nsfs bind mount exec/netns/default), deepest first.
unmount_leftovers() {
  local m
  awk -v a="$CHD_TEST_DOCKER_EXEC_ROOT" -v b="$CHD_TEST_DOCKER_DATA_ROOT" \
    '$2 == a || $2 == b || index($2, a "/") == 1 || index($2, b "/") == 1 { print $2 }' /proc/self/mounts |
    sort -r | while read -r m; do
      umount "$m" || die "cannot unmount $m (left by dockerd)"
    done
}

main() {
  mkdir -p "$CHD_TEST_RUN_DIR"
  exec 9>"$CHD_TEST_RUN_DIR/lock"
  flock 9

  local pid ids
  if pid=$(live_pid "$CHD_TEST_DOCKER_PIDFILE" dockerd); then
    # Every container of this daemon belongs to the tests; SIGKILL beats the shutdown timeout.
    if ids=$(docker_cli ps --all --quiet 2>/dev/null) && [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      docker_cli rm --force --volumes $ids >/dev/null || true
    fi
    stop_pid "$pid"
  fi
  # dockerd stops the containerd it manages; a killed dockerd leaves it behind.
  if pid=$(live_pid "$CHD_TEST_DOCKER_EXEC_ROOT/containerd/containerd.pid" containerd); then
    stop_pid "$pid"
  fi
  if ip link show dev "$CHD_TEST_BRIDGE" >/dev/null 2>&1; then
    ip link delete dev "$CHD_TEST_BRIDGE"
  fi
  rm -f "$CHD_TEST_DOCKER_SOCK" "$CHD_TEST_DOCKER_PIDFILE"

  unmount_leftovers
  if $purge; then
    rm -rf "$CHD_TEST_DOCKER_DATA_ROOT" "$CHD_TEST_DOCKER_EXEC_ROOT"
    rm -f "$CHD_TEST_RUN_DIR/daemon.json" "$CHD_TEST_DOCKER_LOG"
  fi
  if $purge; then echo "dockerd-down: stopped, purged"; else echo "dockerd-down: stopped"; fi
}

main "$@"
