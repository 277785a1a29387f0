#!/usr/bin/env node
// `npm test`: the whole suite in three lanes at once, each a tap run of one
// file at a time: three test processes on two cores, as before with two lanes,
// one of them two files at a time (a third lane beside that, four processes,
// was measured slower).
//
//   integration  the integration tests that share real resources (--jobs=1):
//                the shared test dockerd and its bridge (check, discovery-docker,
//                hostile-containers-check, daemon), network namespaces seen
//                through the host's /proc (a daemon sweeping /proc would see
//                another test's namespaces come and go), and probe timings on
//                2 cores (a sweep of 100 namespaces "takes about one timeout"
//                only when nothing else competes).
//   packaging    test/integration/packaging.test.ts alone (its own Debian
//                root, PID namespace and netns prefix): the longest file by
//                far (~330 s in CI), so it starts at once instead of after
//                the files before it in path order.
//   parallel     the rest: test/unit/* with coverage and its floor (package.json
//                "tap"), test/fuzz/* (the property-based fuzz tests: 10,000
//                cases per property, CPU-bound, no coverage), and the
//                integration tests that share nothing with the others: the other
//                packaging tests, those that talk to a fake Kubernetes API
//                server on a loopback port of their own, and
//                hostile-containers-daemon (a dockerd of this lane's own and a
//                procRoot of its own).
//
// Each lane ends with its files' times, longest first (tap's own figures: from
// the test process's start of tests to its end), to balance the lanes by.
//
// Every test runs as compiled by `pretest` (dist/test/**/*.js), and tap runs
// without its TypeScript plugin (package.json "tap".plugin): its loader (ts-node
// and the TypeScript compiler) cost every test process ~2 s of CPU, even for a
// .js file, more than most unit tests take; the children tests start (the
// daemon, helper servers) run compiled too.
//
// The integration and packaging lanes start first: every tap run clears
// .tap/processinfo and .tap/coverage when it starts, so the lane with coverage
// starts after them.
// `npm run test:unit` (--unit) runs test/unit/* alone, four tap processes at a
// time, with the coverage floor. In both, the unit files of one area share a tap
// process (unitFiles()): tap's start costs each test process about 1 s of CPU,
// which for 56 files was half the CPU of the unit tests.
// Arguments (`npm test -- test/unit/x.test.ts`) skip the lanes: tap runs them (a
// .ts test file as its compiled dist/....js), with the coverage floor reported
// but not enforced.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TAP = path.join(ROOT, 'node_modules', '.bin', 'tap');
const PARALLEL = new Set([
  'packaging-systemd-unit.test.ts',
  'packaging-man.test.ts',
  'packaging-observability.test.ts',
  'kube-fake.test.ts',
  'kube-targets.test.ts',
  'remedy-actions.test.ts',
  'remedy-engine.test.ts',
  'remedy-quorum.test.ts',
  // (The cluster simulation, remedy-simulation and remedy-simulation-hour, shares nothing either,
  // but runs in the integration lane: with it there, the three lanes take about as long; CI
  // run 25: integration 398 s, packaging 424 s, parallel 502 s with the simulation's 52 s.)
  'daemon-kubernetes.test.ts',
  // Its Docker containers on the parallel lane's dockerd (dockerd-env-parallel.sh), its daemons'
  // discovery through a procRoot of its own: ~60 s off the integration lane.
  'hostile-containers-daemon.test.ts',
  // Host vantage only, on loopback ports of its own (a daemon, curl, Prometheus).
  'http-web-config.test.ts',
]);

// Unit files whose tests take seconds of their own (real timers, worker threads, child
// processes, bcrypt) run in a tap process each, so they spread over the jobs.
const UNIT_ALONE = new Set([
  'daemon',
  'discovery-docker',
  'http-basic-auth',
  'http-limits',
  'http-server-tls',
  'log',
  'native-defects',
  'netns-binding',
  'probe',
]);

/** The integration test file with a lane of its own. */
const OWN_LANE = 'packaging.test.ts';

const files = (dir) =>
  fs
    .readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `${dir}/${f}`);

/**
 * test/unit/x.test.ts -> dist/test/unit/x.test.js, test/unit -> dist/test/unit; other arguments
 * (options, compiled files) as they are.
 */
function compiledPath(arg) {
  if (arg.startsWith('-')) return arg;
  const rel = path.relative(ROOT, path.resolve(ROOT, arg));
  if (!rel.startsWith('test')) return arg;
  if (arg.endsWith('.ts')) return path.join('dist', rel.replace(/\.ts$/, '.js'));
  return fs.existsSync(path.join(ROOT, rel)) && fs.statSync(path.join(ROOT, rel)).isDirectory() ? path.join('dist', rel) : arg;
}

/**
 * The unit files as tap runs them: UNIT_ALONE and areas of one file as they are; the other files
 * of one area (the name up to its first "-": diagnose-*, probe-*, ...) imported by one generated
 * file in dist/test/unit-groups/, so that they share one tap process. Each test process costs
 * about 1 s of CPU before its first test (tap's module hooks in the process and in each worker
 * thread, the source maps of tap's ~125 modules), more than most unit files' tests take.
 */
function unitFiles() {
  const dir = path.join(ROOT, 'dist', 'test', 'unit-groups');
  fs.rmSync(dir, { recursive: true, force: true });
  const areas = new Map();
  const out = [];
  for (const f of files('test/unit')) {
    const base = path.basename(f, '.test.ts');
    if (UNIT_ALONE.has(base)) out.push(compiledPath(f));
    else areas.set(base.split('-')[0], [...(areas.get(base.split('-')[0]) ?? []), f]);
  }
  for (const [area, list] of areas) {
    if (list.length === 1) {
      out.push(compiledPath(list[0]));
      continue;
    }
    fs.mkdirSync(dir, { recursive: true });
    const imports = list.map((f) => `import '../unit/${path.basename(f, '.ts')}.js';\n`).join('');
    // Not *.test.js: a bare `tap` (package.json "tap".include) runs the files themselves.
    const group = path.join(dir, `${area}.js`);
    fs.writeFileSync(group, `// Generated by test/support/run-suites.js: the ${area}-* unit files in one tap process.\n${imports}`);
    out.push(path.relative(ROOT, group));
  }
  return out;
}

function requireCompiled(list) {
  const missing = list.filter((f) => !f.startsWith('-') && !fs.existsSync(path.join(ROOT, f)));
  if (missing.length) throw new Error(`not compiled (run "npm run build"; npm test does it first): ${missing.join(', ')}`);
}

/** Runs tap; every output line goes to stdout with the lane's tag. Resolves with the exit code. */
function lane(name, args, onFirstTest) {
  const times = [];
  return new Promise((resolve) => {
    const child = spawn(TAP, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const tag = `[${name}] `;
    let started = false;
    const relay = (stream, out) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop();
        for (const l of lines) {
          out.write(tag + l + '\n');
          const m = /^(?:not )?ok \d+ - (\S+) # time=([\d.]+)ms/.exec(l);
          if (m) times.push([m[1], Number(m[2]) / 1000]);
          if (!started && /# Subtest:/.test(l)) {
            started = true;
            onFirstTest?.();
          }
        }
      });
      stream.on('end', () => rest && out.write(tag + rest + '\n'));
    };
    relay(child.stdout, process.stdout);
    relay(child.stderr, process.stderr);
    child.on('close', (code, signal) => {
      if (!started) onFirstTest?.();
      if (times.length > 1) {
        const rows = times.sort((x, y) => y[1] - x[1]).map(([f, sec]) => `${tag}#   ${sec.toFixed(1).padStart(6)} s  ${f}`);
        process.stdout.write(`${tag}# file times, longest first (sum ${times.reduce((a, [, sec]) => a + sec, 0).toFixed(0)} s):\n${rows.join('\n')}\n`);
      }
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

async function main(argv) {
  // A few files cannot meet the coverage floor of the whole unit suite: it is reported, not enforced.
  if (argv[0] === '--unit') {
    requireCompiled(files('test/unit').map(compiledPath));
    const unit = unitFiles();
    const t0 = Date.now();
    const code = await lane('unit', ['--jobs=4', ...argv.slice(1), ...unit]);
    console.log(`# unit tests: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return code;
  }
  if (argv.length > 0) {
    const args = argv.map(compiledPath);
    requireCompiled(args);
    return lane('tap', ['--allow-incomplete-coverage', '--allow-empty-coverage', ...args]);
  }
  const integration = files('test/integration');
  const serial = integration.filter((f) => !PARALLEL.has(path.basename(f)) && path.basename(f) !== OWN_LANE).map(compiledPath);
  const packaging = integration.filter((f) => path.basename(f) === OWN_LANE).map(compiledPath);
  const independent = integration.filter((f) => PARALLEL.has(path.basename(f))).map(compiledPath);
  requireCompiled([...serial, ...packaging, ...independent, ...files('test/fuzz').map(compiledPath), ...files('test/unit').map(compiledPath)]);
  const parallel = [...independent, ...files('test/fuzz').map(compiledPath), ...unitFiles()];
  const t0 = Date.now();
  const results = {};
  const noCoverage = ['--jobs=1', '--disable-coverage', '--coverage-report=none', '--allow-empty-coverage', '--allow-incomplete-coverage'];
  const started = [];
  const run = (name, args) => {
    let onStart;
    started.push(new Promise((resolve) => (onStart = resolve)));
    return lane(name, args, onStart).then((code) => (results[name] = { code, s: (Date.now() - t0) / 1000 }));
  };
  // One lane at a time until its first test starts: on a fresh clone the first tap run builds
  // the plugin set of package.json "tap".plugin into @tapjs/test/test-built, and two tap runs
  // starting together both build it, one removing what the other loads (every file then fails
  // with "Cannot find module .../test-built/dist/esm/index.js").
  const runs = [run('integration', [...noCoverage, ...serial])];
  await started.at(-1);
  runs.push(run('packaging', [...noCoverage, ...packaging]));
  await started.at(-1);
  runs.push(run('parallel', ['--jobs=1', ...parallel]));
  await Promise.all(runs);
  for (const [name, r] of Object.entries(results))
    console.log(`# lane ${name}: ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`} after ${r.s.toFixed(0)} s`);
  return Object.values(results).every((r) => r.code === 0) ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
