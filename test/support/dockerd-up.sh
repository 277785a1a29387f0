#!/usr/bin/env bash
# Start a test dockerd of the suite (the shared one; with CHD_TEST_DOCKERD=parallel the parallel
# lane's) and import the busybox test image. Idempotent: a dockerd that already answers on the
# socket is reused, an image already present is kept.
#
# The daemon is isolated from anything else on the machine: its own socket, data root, exec
# root (so its own managed containerd), config file and bridge; no iptables/ip6tables rules, no
# IP forwarding, no masquerading. Containers get a bridge address; the host side of the bridge
# (CHD_TEST_BRIDGE_ADDR) is where tests run their DNS servers. Stop it with dockerd-down.sh.
set -euo pipefail
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin  # dockerd and ip live in sbin; a non-login shell may lack it

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# CHD_TEST_DOCKERD=parallel: the parallel lane's dockerd (dockerd-env-parallel.sh) instead.
case "${CHD_TEST_DOCKERD:-}" in
  '') env_file=dockerd-env.sh ;;
  parallel) env_file=dockerd-env-parallel.sh ;;
  *) echo "${0##*/}: CHD_TEST_DOCKERD must be empty or 'parallel', not '$CHD_TEST_DOCKERD'" >&2; exit 1 ;;
esac
# shellcheck source=dockerd-env.sh
. "$here/$env_file"

start_timeout=${CHD_TEST_DOCKERD_START_TIMEOUT:-60}

die() { echo "dockerd-up: $*" >&2; exit 1; }
log_tail() { [ -f "$CHD_TEST_DOCKER_LOG" ] && tail -n 30 "$CHD_TEST_DOCKER_LOG" >&2 || true; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
docker_cli() { docker --host "unix://$CHD_TEST_DOCKER_SOCK" "$@"; }
answers() { docker_cli version --format '{{.Server.Version}}' >/dev/null 2>&1; }

check_prerequisites() {
  [ "$(id -u)" = 0 ] || die "must run as root (dockerd needs it)"
  local cmd
  for cmd in dockerd docker ip tar flock ldd; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found (apt-get install docker.io iproute2 tar util-linux libc-bin)"
  done
  [ -x "$CHD_TEST_BUSYBOX" ] || die "$CHD_TEST_BUSYBOX not found (apt-get install busybox-static)"
  if ldd "$CHD_TEST_BUSYBOX" >/dev/null 2>&1; then
    die "$CHD_TEST_BUSYBOX is dynamically linked; the image needs a static one (apt-get install busybox-static)"
  fi
}

ensure_bridge() {
  local cidr="$CHD_TEST_BRIDGE_ADDR/$CHD_TEST_BRIDGE_PREFIXLEN"
  if ! ip link show dev "$CHD_TEST_BRIDGE" >/dev/null 2>&1; then
    if ip -4 route show to match "$CHD_TEST_BRIDGE_ADDR" | grep -qv '^default'; then
      die "$cidr overlaps a network this machine already routes; change CHD_TEST_BRIDGE_ADDR in $env_file"
    fi
    ip link add name "$CHD_TEST_BRIDGE" type bridge
  fi
  if ! ip -4 addr show dev "$CHD_TEST_BRIDGE" | grep -qF " $cidr "; then
    ip addr add "$cidr" dev "$CHD_TEST_BRIDGE"
  fi
  ip link set dev "$CHD_TEST_BRIDGE" up
}

dockerd_pid() {
  local pid
  [ -f "$CHD_TEST_DOCKER_PIDFILE" ] || return 1
  pid=$(cat "$CHD_TEST_DOCKER_PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
  echo "$pid"
}

start_dockerd() {
  local config="$CHD_TEST_RUN_DIR/daemon.json"
  echo '{}' >"$config"
  mkdir -p "$CHD_TEST_DOCKER_EXEC_ROOT" "$CHD_TEST_DOCKER_DATA_ROOT"
  local -a args=(
    --config-file "$config"
    --host "unix://$CHD_TEST_DOCKER_SOCK"
    --pidfile "$CHD_TEST_DOCKER_PIDFILE"
    --data-root "$CHD_TEST_DOCKER_DATA_ROOT"
    --exec-root "$CHD_TEST_DOCKER_EXEC_ROOT"
    --bridge "$CHD_TEST_BRIDGE"
    --iptables=false --ip-forward=false --ip-masq=false
    --shutdown-timeout 2
  )
  if dockerd --help 2>&1 | grep -q -- '--ip6tables'; then
    args+=(--ip6tables=false)
  fi
  echo "--- dockerd-up $(date -u +%FT%TZ): dockerd ${args[*]}" >>"$CHD_TEST_DOCKER_LOG"
  # Own session: the daemon outlives this script and the test process that ran it.
  setsid --wait dockerd "${args[@]}" >>"$CHD_TEST_DOCKER_LOG" 2>&1 </dev/null 9>&- &
  echo $!
}

# $1: the pid to watch (the dockerd being started or already starting).
wait_for_dockerd() {
  local pid=$1 deadline=$((SECONDS + start_timeout))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail
      die "dockerd exited during startup; log: $CHD_TEST_DOCKER_LOG (tail above)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail
      die "dockerd did not answer on $CHD_TEST_DOCKER_SOCK within ${start_timeout}s; log: $CHD_TEST_DOCKER_LOG (tail above)"
    fi
    sleep 0.1
  done
}

rootfs=
trap '[ -z "$rootfs" ] || rm -rf "$rootfs"' EXIT

import_image() {
  local applet
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs"/{bin,dev,etc,proc,root,sys,tmp}
  chmod 1777 "$rootfs/tmp"
  cp "$CHD_TEST_BUSYBOX" "$rootfs/bin/busybox"
  for applet in $("$CHD_TEST_BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$rootfs/etc/hosts"
  tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
    docker_cli import --change 'CMD ["/bin/sh"]' - "$CHD_TEST_IMAGE" >/dev/null
}

main() {
  check_prerequisites
  mkdir -p "$CHD_TEST_RUN_DIR"
  exec 9>"$CHD_TEST_RUN_DIR/lock"
  flock 9

  local t0 pid started=reused imported=present
  t0=$(now)
  if ! answers; then
    ensure_bridge
    pid=$(dockerd_pid) || pid=$(start_dockerd)
    wait_for_dockerd "$pid"
    started="started in $(elapsed "$t0")s"
  fi
  t0=$(now)
  if ! docker_cli image inspect "$CHD_TEST_IMAGE" >/dev/null 2>&1; then
    import_image
    imported="imported in $(elapsed "$t0")s"
  fi
  echo "dockerd-up: dockerd $started, image $CHD_TEST_IMAGE $imported, socket $CHD_TEST_DOCKER_SOCK"
}

main "$@"
