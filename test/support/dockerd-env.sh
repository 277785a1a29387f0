# The test suite's own dockerd: one place for its paths and names.
# Sourced by dockerd-up.sh and dockerd-down.sh, and parsed by dockerd.ts, so keep it to
# plain KEY=value lines (no quotes, no $expansions).
CHD_TEST_RUN_DIR=/run/coredns-healthd-test
CHD_TEST_DOCKER_SOCK=/run/coredns-healthd-test/docker.sock
CHD_TEST_DOCKER_PIDFILE=/run/coredns-healthd-test/dockerd.pid
CHD_TEST_DOCKER_LOG=/run/coredns-healthd-test/dockerd.log
CHD_TEST_DOCKER_EXEC_ROOT=/run/coredns-healthd-test/exec
CHD_TEST_DOCKER_DATA_ROOT=/var/lib/coredns-healthd-test-docker
CHD_TEST_BRIDGE=chk-docker0
CHD_TEST_BRIDGE_ADDR=172.31.250.1
CHD_TEST_BRIDGE_PREFIXLEN=24
CHD_TEST_IMAGE=coredns-healthd-test/busybox:latest
CHD_TEST_BUSYBOX=/bin/busybox
