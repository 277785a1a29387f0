// Issue 10, "Hostile containers, real processes": `coredns-healthd check` (text and --json) as a
// real child process against fake containers (own netns, own root: test/support/hostile.ts) whose
// resolv.conf is a symlink to a host canary, /dev/zero, a char device, a FIFO, 10 MB, a directory,
// a socket, full of ESC sequences or 1 MB of search domains; with ESC-named interfaces; started by
// Docker with ESC and 100 KB labels; and probing DNS servers whose replies carry names with
// control characters.
//
// One check --json per kind alone (so a failure names its kind), then text and --json over every
// kind at once (a tap file has 300 s; the text run's lines name their vantage).
// Each run must: finish within 5 s (a bound against hangs; on top of the wall time of
// `coredns-healthd version` measured just before, since this machine may be shared and loaded), peak under 150 MB RSS (VmHWM polled
// every 10 ms), never show the canary, print no raw control character and no forged line (text),
// keep every JSON string and list capped (--json), and still probe the container (from its
// in-root resolv.conf where it has one: the same nameservers its own libc would use).
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { requireRoot } from '../support/root.js';
import {
  BIDI_RE,
  DOCKER_KINDS,
  KIND_DESCRIPTIONS,
  MAX_OUTPUT_BYTES,
  PROC_KINDS,
  RSS_BOUND_KB,
  RUN_BOUND_MS,
  buildHostileWorld,
  canaryAt,
  controlAt,
  describeBounds,
  ensureBuilt,
  excerpt,
  forgedLines,
  jsonBounds,
  spawnMeasured,
  startupMs,
  type HostileKind,
  type HostileWorld,
  type MeasuredExit,
} from '../support/hostile.js';

// Some thirty real processes per run, each run a fresh node: on a quiet machine the file takes
// a minute or two, on a shared and loaded one several times that. tap's default is 300 s.
t.setTimeout(900_000);

const WHY = 'creates network namespaces, chroot processes, device nodes, a dockerd and its containers';

function checkArgs(w: HostileWorld, bin: string, kinds: readonly HostileKind[], json: boolean): string[] {
  const config = path.join(w.dir, 'empty.json');
  if (!fs.existsSync(config)) fs.writeFileSync(config, '{}\n');
  return [
    bin,
    'check',
    '--config',
    config,
    '--proc-root',
    w.procRootFor(kinds),
    '--host-resolv-conf',
    w.hostResolvConf,
    '--docker-socket',
    w.dockerSocket,
    ...w.hostileTargets.flatMap((s) => ['--server', s]),
    '--timeout',
    '1000',
    '--attempts',
    '1',
    '--tcp',
    ...(json ? ['--json'] : []),
  ];
}

/** The assertions every run shares: bound, RSS, canary, and the stderr text. */
function common(t: Test, w: HostileWorld, r: MeasuredExit, startup: number): void {
  t.notOk(r.timedOut, `finished within ${RUN_BOUND_MS} ms + ${Math.round(startup)} ms of startup (took ${Math.round(r.ms)} ms${r.timedOut ? ', killed' : ''})`);
  t.notOk(r.rssKilled, 'was not killed for passing 1 GB RSS');
  t.ok(r.code === 0 || r.code === 1, `exit code 0 or 1, a completed check (got ${r.code ?? r.signal}; stderr ${excerpt(r.stderr.text(), 0, 200)})`);
  t.ok(r.peakRssKb < RSS_BOUND_KB, `peak RSS ${Math.round(r.peakRssKb / 1024)} MB < ${RSS_BOUND_KB / 1024} MB`);
  for (const [name, out] of [
    ['stdout', r.stdout],
    ['stderr', r.stderr],
  ] as const) {
    const text = out.text();
    const at = canaryAt(text, w.canary.token);
    t.equal(at, -1, `the host canary appears nowhere in ${name}${at >= 0 ? `: ${excerpt(text, at)}` : ''}`);
    t.ok(out.bytes <= MAX_OUTPUT_BYTES, `${name} is bounded: ${out.bytes} bytes <= ${MAX_OUTPUT_BYTES}`);
  }
  const err = r.stderr.text();
  const c = controlAt(err);
  t.equal(c, -1, `no raw control character in stderr${c >= 0 ? `: ${excerpt(err, c)}` : ''}`);
}

interface JsonResult {
  vantage: { id: string };
  server: string;
  port: number;
  ok: boolean;
  reason: string;
}
interface JsonVantage {
  id: string;
  status: string;
}

async function checkRun(t: Test, w: HostileWorld, bin: string, kinds: readonly HostileKind[], json: boolean): Promise<void> {
  const startup = await startupMs(bin);
  const r = await spawnMeasured(process.execPath, checkArgs(w, bin, kinds, json), { timeoutMs: RUN_BOUND_MS + startup }).exited;
  t.comment(
    `${kinds.length === 1 ? kinds[0] : 'all kinds'} ${json ? '--json' : 'text'}: ${Math.round(r.ms)} ms, peak RSS ${Math.round(r.peakRssKb / 1024)} MB, exit ${r.code ?? r.signal}, stdout ${r.stdout.bytes} bytes`,
  );
  common(t, w, r, startup);
  const out = r.stdout.text();
  if (!json) {
    const c = controlAt(out);
    t.equal(c, -1, `no raw control character in the table and findings${c >= 0 ? `: ${excerpt(out, c)}` : ''}`);
    const b = BIDI_RE.exec(out);
    t.notOk(b, `no raw bidi override in the text${b ? `: ${excerpt(out, b.index)}` : ''}`);
    t.same(forgedLines(out).slice(0, 3), [], 'no line of the output was forged by a container or a DNS reply');
    t.match(out, /\n(OK|FAIL): \d+ probes? from \d+ vantages?/, 'the text ends with its summary line');
    if (kinds.includes('docker-label-escape')) {
      // Not vacuous: the hostile strings did reach the text, shown escaped.
      t.match(out, /\\x1b/, 'container-controlled strings reach the text, with ESC shown as \\x1b');
    }
    return;
  }
  let doc: { vantages: JsonVantage[]; results: JsonResult[] } | undefined;
  try {
    doc = JSON.parse(out) as typeof doc;
  } catch (err) {
    t.fail(`stdout is one JSON document: ${(err as Error).message} (${r.stdout.bytes} bytes${r.stdout.truncated ? ', truncated' : ''}: ${excerpt(out, 0)})`);
    return;
  }
  const bounds = jsonBounds(doc);
  t.ok(
    bounds.longStrings.length === 0 && bounds.longArrays.length === 0,
    `every JSON string and list is capped${bounds.longStrings.length + bounds.longArrays.length ? `: ${describeBounds(bounds)}` : ''}`,
  );
  for (const kind of kinds) {
    const c = w.containers.get(kind)!;
    const v = doc!.vantages.find((x) => x.id === c.vantageId);
    t.equal(v?.status, 'probed', `${kind}: its vantage ${c.vantageId} was probed`);
    const rows = doc!.results.filter((x) => x.vantage.id === c.vantageId);
    const servers = [...new Set(rows.filter((x) => x.port === 53).map((x) => x.server))].sort();
    t.same(
      servers,
      [...c.expectNameservers].sort(),
      `${kind}: probed exactly the nameservers its own libc would read (${JSON.stringify(c.expectNameservers)})`,
    );
    t.ok(
      w.hostileTargets.every((s) => rows.some((x) => `${x.server}:${x.port}` === s)),
      `${kind}: the static targets were probed from it`,
    );
  }
}

t.test('check against hostile containers', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const bin = await ensureBuilt();
  const kinds = [...PROC_KINDS, ...DOCKER_KINDS];
  const w = await buildHostileWorld(t, { base: 'chk', kinds });
  t.comment(`canary ${w.canary.path}, server ${w.serverIp}, dead ${w.dead}, ${w.containers.size} containers`);

  // One --json run per kind (the bound, RSS, canary and caps, attributed to the kind), then the
  // text and --json over every kind at once (the text names each line's vantage).
  for (const kind of kinds) {
    await t.test(`${kind}: ${KIND_DESCRIPTIONS[kind]} (--json)`, (t) => checkRun(t, w, bin, [kind], true));
  }
  await t.test('every kind at once, text', (t) => checkRun(t, w, bin, kinds, false));
  await t.test('every kind at once, --json', (t) => checkRun(t, w, bin, kinds, true));
});
