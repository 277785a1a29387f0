#!/usr/bin/env bash
# The sanitizer job: builds the native addon with AddressSanitizer + UndefinedBehaviorSanitizer
# into build-sanitize/ (never build/, which other tests load concurrently) and runs the binding
# and engine tests against it. Fails on any sanitizer report, whatever the tests' exit codes.
#
#   bash test/support/native-sanitize.sh              self-test, build, run the tests
#   bash test/support/native-sanitize.sh --self-test  only prove the pipeline catches a UAF and UB
#   bash test/support/native-sanitize.sh --build-only only build the sanitized addon
#   ... --no-self-test                                skip the self-test
#   ... -- FILE...                                    run these test files instead of the default set
#
# The sources and compile settings come from binding.gyp (copied with the source directories it
# names into build-sanitize/tree, then built there by node-gyp with the sanitizer flags added).
# The default test set is globbed, so new native test files are picked up:
#   test/unit/*binding*.test.ts  test/integration/netns-engine*.test.ts  test/**/native*.test.ts
# Tests run compiled (dist/test/..., see test/support/run-suites.js): tsc runs first, and a test
# named by its .ts source runs as its compiled .js.
# Tests load the sanitized addon through COREDNS_HEALTHD_ADDON (src/netns/binding.ts); a test
# that spawns its own node must require process.env.COREDNS_HEALTHD_ADDON when set.
#
# Environment: NATIVE_SANITIZE_SOURCE (a directory holding binding.gyp and its sources; default
# the repository: used to try the job on a scratch copy with a planted bug), NATIVE_SANITIZE_OUT
# (default build-sanitize), CXX (default g++), npm_config_nodedir (default /usr).
# Leak detection is off: Node and V8 do not free everything at exit, and an LSan suppression
# broad enough for them would also hide the addon's leaks (fd leaks are checked by the tests).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
SRC=$(cd "${NATIVE_SANITIZE_SOURCE:-$ROOT}" && pwd)
OUT=${NATIVE_SANITIZE_OUT:-$ROOT/build-sanitize}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CXX=${CXX:-g++}
NODEDIR=${npm_config_nodedir:-/usr}
REPORTS=$OUT/reports
LOG=$OUT/test.log

mode=all
self_test=1
files=()
while [ $# -gt 0 ]; do
  case $1 in
    --self-test) mode=self-test ;;
    --build-only) mode=build ;;
    --no-self-test) self_test=0 ;;
    --) shift; files=("$@"); break ;;
    *) echo "native-sanitize: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
# Report patterns: the second line of defence after exit codes and report files.
PATTERN='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer)'

now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
die() { echo "native-sanitize: FAIL: $*" >&2; exit 1; }

LIBASAN=$("$CXX" -print-file-name=libasan.so)
LIBUBSAN=$("$CXX" -print-file-name=libubsan.so)
[ -e "$LIBASAN" ] || die "$CXX has no libasan.so (Debian: libgcc-<ver>-dev, installed with g++)"
[ -e "$LIBUBSAN" ] || die "$CXX has no libubsan.so (Debian: libgcc-<ver>-dev, installed with g++)"

# The sanitizer runtimes are loaded into node only, not through LD_PRELOAD: a preload is inherited
# by every program the tests run (ip, unshare, dnsmasq...), and ASan then reports their own bugs
# (iproute2's `ip route` trips strncpy-param-overlap). So $OUT/bin/node is a copy of node with
# libasan and libubsan added in front of its DT_NEEDED list (patchelf); it comes first in PATH,
# and is process.execPath of tap and of every test, so node children spawned through
# process.execPath or `node` get it too, other programs do not.
NODE_BIN=$(readlink -f "$(command -v node)")
SAN_NODE=$OUT/bin/node
[ "$NODE_BIN" != "$SAN_NODE" ] || die "node on PATH is the sanitized copy $SAN_NODE: run this without $OUT/bin in PATH"
sanitized_node() {
  local asan_so ubsan_so stamp
  asan_so=$(readelf -d "$(readlink -f "$LIBASAN")" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  ubsan_so=$(readelf -d "$(readlink -f "$LIBUBSAN")" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [ -n "$asan_so" ] && [ -n "$ubsan_so" ] || die "cannot read the sonames of $LIBASAN, $LIBUBSAN"
  stamp="$NODE_BIN $(stat -c '%s %Y' "$NODE_BIN") $asan_so $ubsan_so"
  if [ -x "$SAN_NODE" ] && [ "$(cat "$OUT/bin/.stamp" 2>/dev/null)" = "$stamp" ]; then return; fi
  command -v patchelf >/dev/null || die "patchelf is not installed (apt-get install patchelf)"
  mkdir -p "$OUT/bin"
  rm -f "$SAN_NODE" "$OUT/bin/.stamp"
  cp "$NODE_BIN" "$SAN_NODE.tmp"
  # --add-needed prepends: libasan is added last so it comes first.
  patchelf --add-needed "$ubsan_so" "$SAN_NODE.tmp"
  patchelf --add-needed "$asan_so" "$SAN_NODE.tmp"
  mv "$SAN_NODE.tmp" "$SAN_NODE"
  echo "$stamp" >"$OUT/bin/.stamp"
}

# The environment of a sanitized run (tap's children inherit it). ASan reports go to a file per
# process in $REPORTS (found even when a test swallows a child's stderr); UBSan ignores log_path
# when ASan is loaded, so its reports go to stderr (grepped) and the process aborts
# (-fno-sanitize-recover: the test sees the child fail).
sanitizer_env() {
  export PATH="$OUT/bin:$PATH"
  # For tests whose timing bounds must allow for the sanitizers' slowdown (about 2-5x).
  export COREDNS_HEALTHD_SANITIZE=1
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path=$REPORTS/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
}

# Prints each sanitizer report (report files, then matching log lines); returns 1 when any.
check_reports() {
  local log=$1 found=0 f
  for f in "$REPORTS"/asan.* "$REPORTS"/ubsan.*; do
    [ -s "$f" ] || continue
    found=1
    echo "---- sanitizer report $(basename "$f") ----"
    head -n 80 "$f"
  done
  if [ -f "$log" ] && grep -Eq "$PATTERN" "$log"; then
    found=1
    echo "---- sanitizer lines in $log ----"
    grep -E -B2 -A25 "$PATTERN" "$log" | head -n 120
  fi
  return $((found))
}

reset_reports() { rm -rf "$REPORTS"; mkdir -p "$REPORTS"; }

# --- self-test: a planted heap-use-after-free, signed overflow and misaligned load must each be
# reported and fail; a clean call must pass with no report.
self_test() {
  local st=$OUT/selftest t0 fn arg expect status
  t0=$(now)
  mkdir -p "$st"
  # shellcheck disable=SC2086
  "$CXX" $SAN_FLAGS -std=c++17 -shared -fPIC -DNODE_GYP_MODULE_NAME=selftest \
    -I"$NODEDIR/include/node" -o "$st/selftest.node" "$ROOT/test/support/native-sanitize-selftest.cc" \
    || die "self-test: cannot compile the self-test addon"
  sanitized_node
  for spec in "ok:3:" "useAfterFree:3:heap-use-after-free" \
              "overflow:2147483647:signed integer overflow" "misaligned:1:misaligned address"; do
    IFS=: read -r fn arg expect <<<"$spec"
    reset_reports
    status=0
    # (not exec'd, so the subshell, not this script, reports "Aborted" into the log)
    ( sanitizer_env; "$SAN_NODE" -e "process.stdout.write(String(require(process.argv[1]).$fn($arg)))" "$st/selftest.node"; exit $? ) \
      >"$st/$fn.log" 2>&1 || status=$?
    if [ -z "$expect" ]; then
      [ "$status" = 0 ] || { cat "$st/$fn.log"; die "self-test: clean call exited $status"; }
      check_reports "$st/$fn.log" >/dev/null || { check_reports "$st/$fn.log" || true; die "self-test: report on a clean call"; }
    else
      [ "$status" != 0 ] || die "self-test: $fn exited 0 (sanitizer did not stop it)"
      if check_reports "$st/$fn.log" >"$st/$fn.report"; then
        die "self-test: $fn produced no sanitizer report (exit $status)"
      fi
      grep -q "$expect" "$st/$fn.report" || { cat "$st/$fn.report"; die "self-test: $fn report lacks \"$expect\""; }
    fi
  done
  reset_reports
  echo "native-sanitize: self-test ok (use-after-free, signed overflow and misaligned load caught; clean call clean) in $(elapsed "$t0") s"
}

# --- build: binding.gyp and the directories its sources live in, copied (mtimes kept, so make
# only recompiles what changed), then node-gyp with the sanitizer flags appended (they come after
# gyp's own -O3 on the command line, so -O1 wins).
ADDON=$OUT/tree/build/Release/healthd.node
build() {
  local t0 tops top
  t0=$(now)
  [ -f "$SRC/binding.gyp" ] || die "no binding.gyp in $SRC"
  # gyp files are Python literals (comments allowed): read the sources list, never hard-code it.
  tops=$(python3 - "$SRC/binding.gyp" <<'PY'
import ast, io, sys, tokenize
src = open(sys.argv[1]).read()
toks = [t for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type != tokenize.COMMENT]
gyp = ast.literal_eval(tokenize.untokenize(toks))
tops = set()
for target in gyp.get("targets", []):
    for s in target.get("sources", []):
        if s.startswith("/") or s.startswith(".."):
            sys.exit("binding.gyp source outside the package: " + s)
        tops.add(s.split("/", 1)[0])
print("\n".join(sorted(tops)))
PY
) || die "cannot read the sources of $SRC/binding.gyp"
  [ -n "$tops" ] || die "binding.gyp lists no sources"
  mkdir -p "$OUT/tree"
  cp -p "$SRC/binding.gyp" "$OUT/tree/binding.gyp"
  while IFS= read -r top; do
    rm -rf "${OUT:?}/tree/$top"
    cp -a "$SRC/$top" "$OUT/tree/$top"
  done <<<"$tops"
  local gyp=("$ROOT/node_modules/node-gyp/bin/node-gyp.js")
  [ -f "${gyp[0]}" ] || die "node-gyp is not installed (run npm ci)"
  (
    cd "$OUT/tree"
    # binding.gyp's include_dirs runs require('node-addon-api') from here.
    export NODE_PATH="$ROOT/node_modules${NODE_PATH:+:$NODE_PATH}"
    node "${gyp[@]}" configure --nodedir="$NODEDIR" --loglevel=warn
    # -Wno-error: the normal build owns -Werror; -O1 + sanitizers make GCC warn differently.
    CFLAGS="$SAN_FLAGS -Wno-error" CXXFLAGS="$SAN_FLAGS -Wno-error" \
      LDFLAGS="-fsanitize=address,undefined" \
      node "${gyp[@]}" build --jobs="$(nproc)" --loglevel=warn
  ) >"$OUT/build.log" 2>&1 || { tail -n 60 "$OUT/build.log"; die "the sanitized build failed (full log: $OUT/build.log)"; }
  local syms
  syms=$(nm -D --undefined-only "$ADDON") || die "cannot read the symbols of $ADDON"
  grep -q '__asan_report' <<<"$syms" || die "$ADDON is not ASan-instrumented"
  grep -q '__ubsan_handle' <<<"$syms" || die "$ADDON is not UBSan-instrumented"
  echo "native-sanitize: built $ADDON ($(echo "$tops" | tr '\n' ' ')from $SRC) in $(elapsed "$t0") s"
}

T_ALL=$(now)
if [ "$mode" = self-test ]; then self_test; exit 0; fi
[ "$self_test" = 1 ] && [ "$mode" = all ] && self_test
build
[ "$mode" = build ] && exit 0
sanitized_node

if [ ${#files[@]} -eq 0 ]; then
  shopt -s globstar nullglob
  mapfile -t files < <(printf '%s\n' test/unit/*binding*.test.ts test/integration/netns-engine*.test.ts test/**/native*.test.ts | sort -u)
  shopt -u globstar nullglob
fi
[ ${#files[@]} -gt 0 ] || die "no test files matched"
"$ROOT/node_modules/.bin/tsc" -p "$ROOT/tsconfig.json" || die "tsc failed"
for i in "${!files[@]}"; do
  f=${files[$i]}
  case $f in dist/*) ;; *.ts) files[$i]=dist/${f%.ts}.js ;; esac
  [ -f "${files[$i]}" ] || die "${files[$i]}: no such compiled test"
done
for f in "${files[@]}"; do
  f=${f#dist/}
  f=${f%.js}.ts
  if grep -n 'build/Release/healthd.node' "$f" | grep -v COREDNS_HEALTHD_ADDON >/dev/null; then
    echo "native-sanitize: warning: $f names build/Release/healthd.node without COREDNS_HEALTHD_ADDON: that part runs the unsanitized addon" >&2
  fi
done

reset_reports
T_TESTS=$(now)
set +e
(
  sanitizer_env
  export COREDNS_HEALTHD_ADDON=$ADDON
  exec "$SAN_NODE" "$ROOT/node_modules/.bin/tap" --disable-coverage --coverage-report=none --allow-empty-coverage --allow-incomplete-coverage "${files[@]}"
) 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
t_tests=$(elapsed "$T_TESTS")

reports=0
check_reports "$LOG" || reports=1
n_asan=$(find "$REPORTS" -type f -size +0 | wc -l)
n_ubsan=$(grep -c 'runtime error:' "$LOG" || true)
summary="${#files[@]} test files, tap exit $status, sanitizer reports: $n_asan ASan, $n_ubsan UBSan, tests ${t_tests} s, total $(elapsed "$T_ALL") s"
if [ "$status" != 0 ] || [ "$reports" != 0 ]; then
  echo "native-sanitize: FAIL: $summary (log: $LOG, reports: $REPORTS)"
  exit 1
fi
echo "native-sanitize: PASS: $summary"
