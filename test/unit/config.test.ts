import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ConfigError } from '../../src/config/errors.js';
import { CONFIG_FILE_ENV, describeConfig, loadConfig, loadConfigResult, printConfig, type LoadOptions } from '../../src/config/load.js';
import { ConfigHolder } from '../../src/config/reloader.js';
import { ENV_PREFIX, SETTINGS } from '../../src/config/schema.js';

/** Loads with no machine state: no default file, an empty environment. */
const load = (opts: LoadOptions = {}) => loadConfigResult({ file: false, env: {}, ...opts });

/** Writes `content` (JSON-encoded unless a string) to a fresh file; returns its path. */
function writeConfig(t: Test, content: unknown, name = 'coredns-healthd.json'): string {
  const dir = t.testdir({});
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

/** The ConfigError that fn throws (fails the test when it throws something else or nothing). */
function configError(t: Test, fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    t.type(err, ConfigError, 'a ConfigError');
    t.equal((err as ConfigError).exitCode, 2, 'exit code 2');
    return err as ConfigError;
  }
  t.fail('expected a ConfigError');
  return new ConfigError([]);
}

t.test('defaults: valid, typed, durations in milliseconds, deeply frozen', (t) => {
  const { config, file, sources } = load();
  t.equal(file, null);
  t.equal(config.interval, 10_000);
  t.equal(config.jitter, 1_000);
  t.equal(config.probe.timeout, 2_000);
  t.same(config.probe.transports, ['udp', 'tcp']);
  t.equal(config.dnsPort, 53);
  t.equal(config.http.listen, '0.0.0.0:9890');
  t.equal(config.remedy.mode, 'dry-run');
  t.equal(config.remedy.cooldown, 600_000);
  t.equal(config.remedy.memory.cap, '1Gi');
  t.equal(config.kubernetes.dnsService, 'kube-system/kube-dns');
  t.same(config.queries, [
    { name: 'kubernetes.default.svc.cluster.local', type: 'A', validRcodes: ['NOERROR'], requireAnswers: true, expectAnswers: [], expectMatch: 'contain' },
  ]);
  t.equal(sources.interval, 'default');
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.remedy.lease) && Object.isFrozen(config.queries[0]!.validRcodes), 'frozen all the way down');
  t.throws(() => {
    (config as { interval: number }).interval = 1;
  }, TypeError);
  t.end();
});

t.test('file: values override defaults, strings with units are parsed', (t) => {
  const file = writeConfig(t, {
    interval: '1m30s',
    health: { staleAfter: '5m' },
    probe: { timeout: 750, transports: ['udp'] },
    discovery: { docker: { enabled: false } },
  });
  const { config, sources, file: used } = load({ file });
  t.equal(used, file);
  t.equal(config.interval, 90_000);
  t.equal(config.probe.timeout, 750);
  t.same(config.probe.transports, ['udp']);
  t.equal(config.discovery.docker.enabled, false);
  t.equal(config.discovery.docker.socketPath, '/var/run/docker.sock', 'siblings keep their defaults');
  t.equal(sources.interval, file);
  t.equal(sources['discovery.docker.enabled'], file);
  t.equal(sources['discovery.docker.socketPath'], 'default');
  t.end();
});

t.test('bad JSON: the message names the file, line and column', (t) => {
  const file = writeConfig(t, '{\n  "interval": "10s",\n  "jitter": }\n');
  const err = configError(t, () => load({ file }));
  t.match(err.message, `${file}:3:13: jitter: invalid JSON: expected a value, found "}"`);
  t.end();
});

t.test('bad JSON: a missing comma, a trailing comma, a duplicate key', (t) => {
  const missingComma = writeConfig(t, '{\n  "interval": "10s"\n  "jitter": "1s"\n}\n', 'a.json');
  t.match(configError(t, () => load({ file: missingComma })).message, `${missingComma}:3:3: invalid JSON: expected ',' or '}' after the value of "interval"`);
  const trailing = writeConfig(t, '{"targets": ["10.0.0.1",]}', 'b.json');
  t.match(configError(t, () => load({ file: trailing })).message, `${trailing}:1:25`);
  const dup = writeConfig(t, '{\n"interval": "10s",\n"interval": "20s"\n}', 'c.json');
  t.match(configError(t, () => load({ file: dup })).message, `${dup}:3:1: invalid JSON: duplicate key "interval"`);
  t.end();
});

t.test('the file must hold an object; an empty file is the defaults', (t) => {
  const arr = writeConfig(t, '[]', 'arr.json');
  t.match(configError(t, () => load({ file: arr })).message, `${arr}: must hold a JSON object`);
  const empty = writeConfig(t, '  \n', 'empty.json');
  t.equal(load({ file: empty }).config.interval, 10_000);
  t.end();
});

t.test('unknown keys are rejected, at the top and nested, with a suggestion', (t) => {
  const file = writeConfig(t, { intervall: '5s', discovery: { docker: { sockPath: '/x' } }, remedy: { lease: { holder: 'me' } } });
  const err = configError(t, () => load({ file }));
  t.match(err.message, `${file}: intervall: unknown key (did you mean "interval"?)`);
  t.match(err.message, `${file}: discovery.docker.sockPath: unknown key (did you mean "socketPath"?)`);
  t.match(err.message, `${file}: remedy.lease.holder: unknown key (known here: namespace, name, duration)`);
  t.equal(err.problems.length, 3, 'every problem reported at once');
  t.end();
});

t.test('unknown key inside a query', (t) => {
  const file = writeConfig(t, { queries: [{ name: 'example.org', typ: 'A' }] });
  t.match(configError(t, () => load({ file })).message, `${file}: queries[0].typ: unknown key (a query has: name, type,`);
  t.end();
});

t.test('wrong types', (t) => {
  const file = writeConfig(t, {
    dnsPort: '53',
    discovery: 5,
    probe: { attempts: true },
    log: { level: 3 },
    targets: '10.0.0.1',
    kubernetes: { kubeconfig: null },
  });
  const err = configError(t, () => load({ file }));
  t.match(err.message, `${file}: dnsPort: must be a number (a port number from 1 to 65535), got a string: "53"`);
  t.match(err.message, `${file}: discovery: must be an object (a section with procRoot, host, containers, proc, docker), got a number`);
  t.match(err.message, `${file}: probe.attempts: must be a number`);
  t.match(err.message, `${file}: log.level: must be a string`);
  t.match(err.message, `${file}: targets: must be an array`);
  t.match(err.message, `${file}: kubernetes.kubeconfig: must be a string (a file path, or "" for none), got null`);
  t.equal(err.problems.find((p) => p.key === 'kubernetes.kubeconfig')?.message.endsWith('got null'), true);
  t.end();
});

t.test('values out of range and enum values', (t) => {
  const file = writeConfig(t, { dnsPort: 70000, probe: { attempts: 0 }, remedy: { mode: 'yolo', memory: { factor: 1 } }, health: { override: 'up' } });
  const err = configError(t, () => load({ file }));
  t.match(err.message, `${file}: dnsPort: must be an integer from 1 to 65535, got 70000`);
  t.match(err.message, `${file}: probe.attempts: must be an integer from 1 to 10`);
  t.match(err.message, `${file}: remedy.mode: must be one of "off", "dry-run", "enforce", got "yolo"`);
  t.match(err.message, `${file}: remedy.memory.factor: must be a number greater than 1`);
  t.match(err.message, `${file}: health.override: must be one of "none", "healthy", "unhealthy"`);
  t.end();
});

t.test('bad IP addresses and server targets', (t) => {
  const file = writeConfig(t, {
    targets: ['10.96.0.10', '10.0.0.300', '[fd00::1]:5353', 'dns.example:53', '10.0.0.1:0'],
    http: { listen: '0.0.0.0' },
    diagnose: { nodeLocalDns: ['169.254.20.10', 'fe80::1%eth0'] },
    queries: [{ name: 'kubernetes.default.svc.cluster.local', expectAnswers: ['10.96.0.1', 'fd00::1', 'nope'] }],
  });
  const err = configError(t, () => load({ file }));
  t.same(err.problems.map((p) => p.key).sort(), ['diagnose.nodeLocalDns[1]', 'http.listen', 'queries[0].expectAnswers[1]', 'targets[1]']);
  t.match(err.message, `${file}: targets[1]: "10.0.0.300" is not IP, IP:PORT or [IPv6]:PORT`);
  t.match(err.message, `${file}: http.listen: "0.0.0.0" has no port`);
  t.match(err.message, `${file}: diagnose.nodeLocalDns[1]: not an IPv4 or IPv6 address: "fe80::1%eth0"`);
  t.match(err.message, `${file}: queries[0].expectAnswers[1]: "fd00::1" cannot be the answer to a type A query`);
  t.ok(err.problems.every((p) => p.source === file));
  t.end();
});

t.test('server targets: host names and port 0 are rejected', (t) => {
  for (const bad of ['dns.example:53', '10.0.0.1:0', '10.0.0.1:', '[10.0.0.1]:53', 'fd00::1:99999x']) {
    const err = configError(t, () => load({ flags: { targets: [bad] } }));
    t.equal(err.problems[0]?.key, 'targets[0]', bad);
  }
  t.same(load({ flags: { targets: ['10.0.0.1', '10.0.0.2:5353', '[fd00::1]:53', 'fd00::2'] } }).config.targets, [
    '10.0.0.1',
    '10.0.0.2:5353',
    '[fd00::1]:53',
    'fd00::2',
  ]);
  t.end();
});

t.test('negative and zero intervals are rejected', (t) => {
  for (const interval of [-5, '-5s', 0, '0s', '0']) {
    const file = writeConfig(t, { interval }, `i${String(interval)}.json`);
    const err = configError(t, () => load({ file }));
    t.match(err.message, `${file}: interval: must be a duration greater than zero`, String(interval));
  }
  t.equal(load({ flags: { jitter: 0 } }).config.jitter, 0, 'a zero jitter is fine');
  t.end();
});

t.test('bad durations', (t) => {
  for (const value of ['10 parsecs', '5x', 's', '1.5.s', '']) {
    const err = configError(t, () => load({ env: { COREDNS_HEALTHD_PROBE_TIMEOUT: value } }));
    t.match(err.message, 'environment COREDNS_HEALTHD_PROBE_TIMEOUT: probe.timeout: must be a duration', JSON.stringify(value));
  }
  t.match(configError(t, () => load({ flags: { 'probe.timeout': '3m' } })).message, 'flag --probe.timeout: probe.timeout: must be at most 120s');
  t.end();
});

t.test('environment overrides the file, flags override the environment', (t) => {
  const file = writeConfig(t, { interval: '20s', probe: { timeout: '1s' }, log: { level: 'debug' } });
  const env = { COREDNS_HEALTHD_INTERVAL: '30s', COREDNS_HEALTHD_PROBE_TIMEOUT: '1500' };
  const fromEnv = load({ file, env });
  t.equal(fromEnv.config.interval, 30_000);
  t.equal(fromEnv.config.probe.timeout, 1_500, 'a bare number is milliseconds');
  t.equal(fromEnv.config.log.level, 'debug', 'the file still counts where the environment is silent');
  t.equal(fromEnv.sources.interval, 'environment COREDNS_HEALTHD_INTERVAL');

  const fromFlag = load({ file, env, flags: { interval: '40s' }, flagNames: { interval: '--interval' } });
  t.equal(fromFlag.config.interval, 40_000);
  t.equal(fromFlag.config.probe.timeout, 1_500);
  t.equal(fromFlag.sources.interval, 'flag --interval');
  t.end();
});

t.test('environment values are parsed per format', (t) => {
  const { config } = load({
    env: {
      COREDNS_HEALTHD_DISCOVERY_DOCKER_ENABLED: 'no',
      COREDNS_HEALTHD_KUBERNETES_ENABLED: '0',
      COREDNS_HEALTHD_REMEDY_EVICT_ALLOW_DELETE: 'true',
      COREDNS_HEALTHD_TARGETS: '10.0.0.1, 10.0.0.2:5353',
      COREDNS_HEALTHD_PROBE_TRANSPORTS: 'tcp,udp',
      COREDNS_HEALTHD_DNS_PORT: '5353',
      COREDNS_HEALTHD_QUERIES: '[{"name": "Example.ORG.", "type": "aaaa", "expectAnswers": ["FD00:0:0::1"]}]',
      COREDNS_HEALTHD_DIAGNOSE_CONNTRACK_THRESHOLD: '0.75',
    },
  });
  t.equal(config.discovery.docker.enabled, false);
  t.equal(config.kubernetes.enabled, false);
  t.equal(config.remedy.evict.allowDelete, true);
  t.same(config.targets, ['10.0.0.1', '10.0.0.2:5353']);
  t.same(config.probe.transports, ['udp', 'tcp'], 'canonical order');
  t.equal(config.dnsPort, 5353);
  t.same(config.queries, [
    { name: 'example.org', type: 'AAAA', validRcodes: ['NOERROR'], requireAnswers: true, expectAnswers: ['fd00::1'], expectMatch: 'contain' },
  ]);
  t.equal(config.diagnose.conntrack.threshold, 0.75);
  t.end();
});

t.test('environment errors name the variable', (t) => {
  const err = configError(t, () =>
    load({ env: { COREDNS_HEALTHD_DISCOVERY_HOST: 'maybe', COREDNS_HEALTHD_INTERVL: '5s', COREDNS_HEALTHD_DNS_PORT: '53abc', COREDNS_HEALTHD_QUERIES: '[{' } }),
  );
  t.match(err.message, 'environment COREDNS_HEALTHD_DISCOVERY_HOST: discovery.host: must be true or false, got "maybe"');
  t.match(err.message, 'environment COREDNS_HEALTHD_INTERVL: not a setting (did you mean "COREDNS_HEALTHD_INTERVAL"?)');
  t.match(err.message, 'environment COREDNS_HEALTHD_DNS_PORT: dnsPort: must be an integer from 1 to 65535, got "53abc"');
  t.match(err.message, 'environment COREDNS_HEALTHD_QUERIES: queries: must be an array of query objects');
  t.end();
});

t.test('flag errors name the flag', (t) => {
  const err = configError(t, () =>
    load({
      flags: { 'http.listen': 'localhost:9890', 'probe.transports': ['udp', 'udp'], nope: 1 },
      flagNames: { 'http.listen': '--listen', 'probe.transports': '--tcp' },
    }),
  );
  t.match(err.message, 'flag --listen: http.listen: "localhost:9890" is not IP:PORT');
  t.match(err.message, 'flag --tcp: probe.transports: lists a transport twice');
  t.match(err.message, 'flag --nope: nope: not a setting');
  t.end();
});

t.test('queries: checked element by element, normalized, defaults filled', (t) => {
  const bad = configError(t, () =>
    load({
      flags: { queries: [{ name: 'ok.example', type: 'B' }, { type: 'A' }, { name: 'a..b' }, { name: 'x.example', validRcodes: ['NOERROR', 'NOPE'] }, 'x'] },
    }),
  );
  t.match(bad.message, 'queries[0].type: must be one of A, AAAA');
  t.notMatch(bad.message, 'queries[1]', 'the first bad element is reported');
  t.same(configError(t, () => load({ flags: { queries: [] } })).problems[0], {
    source: 'flag --queries',
    key: 'queries',
    message: 'must list at least one query, got []',
  });
  t.match(configError(t, () => load({ flags: { queries: [{ type: 'A' }] } })).message, 'queries[0].name: is required');
  t.match(configError(t, () => load({ flags: { queries: [{ name: 'a..b' }] } })).message, 'queries[0].name: must be a domain name');
  t.match(
    configError(t, () => load({ flags: { queries: [{ name: 'x.example', validRcodes: ['NOPE'] }] } })).message,
    'queries[0].validRcodes[0]: must be one of NOERROR',
  );
  t.match(
    configError(t, () => load({ flags: { queries: [{ name: 'x.example', type: 'TXT', expectAnswers: ['1.2.3.4'] }] } })).message,
    'queries[0].expectAnswers: applies to A and AAAA queries only',
  );
  const { config } = load({ flags: { queries: [{ name: 'x.example', validRcodes: ['noerror', 'NXDOMAIN'], requireAnswers: false, expectMatch: 'equal' }] } });
  t.same(config.queries[0], {
    name: 'x.example',
    type: 'A',
    validRcodes: ['NOERROR', 'NXDOMAIN'],
    requireAnswers: false,
    expectAnswers: [],
    expectMatch: 'equal',
  });
  t.end();
});

t.test('Kubernetes names, references and quantities', (t) => {
  const err = configError(t, () =>
    load({
      flags: {
        'kubernetes.dnsService': 'kube-dns',
        'kubernetes.nodeName': 'Node_1',
        'kubernetes.clusterDomain': 'cluster..local',
        'remedy.lease.namespace': 'Kube-System',
        'remedy.memory.cap': '1GB',
      },
    }),
  );
  t.match(err.message, 'kubernetes.dnsService: must be "namespace/name"');
  t.match(err.message, 'kubernetes.nodeName: must be a Kubernetes object name');
  t.match(err.message, 'kubernetes.clusterDomain: must be a domain name');
  t.match(err.message, 'remedy.lease.namespace: must be a Kubernetes namespace name');
  t.match(err.message, 'remedy.memory.cap: must be a Kubernetes quantity');
  const ok = load({ flags: { 'kubernetes.clusterDomain': 'Cluster.Local.', 'kubernetes.nodeName': 'node-1.example', 'remedy.memory.cap': '512Mi' } }).config;
  t.equal(ok.kubernetes.clusterDomain, 'cluster.local', 'normalized');
  t.equal(ok.kubernetes.nodeName, 'node-1.example');
  t.end();
});

t.test('relations between settings', (t) => {
  t.match(configError(t, () => load({ flags: { jitter: '10s' } })).message, 'flag --jitter: jitter: must be less than interval (10000 ms), got 10000 ms');
  const file = writeConfig(t, { interval: '60s' });
  t.match(
    configError(t, () => load({ file })).message,
    `${file}: health.staleAfter: must be greater than interval + jitter (61000 ms)`,
    'blames the source that changed, though staleAfter kept its default',
  );
  t.match(
    configError(t, () => load({ flags: { 'discovery.proc.enabled': false, 'discovery.docker.enabled': false } })).message,
    'discovery.containers: is true but discovery.proc.enabled and discovery.docker.enabled are both false',
  );
  t.match(configError(t, () => load({ flags: { 'discovery.host': false, 'discovery.containers': false } })).message, 'no vantage point');
  t.end();
});

t.test('which file is read', (t) => {
  const missing = path.join(t.testdir({}), 'missing.json');
  t.match(configError(t, () => loadConfig({ file: missing, env: {} })).message, `${missing}: configuration file not found`, 'an explicit file must exist');
  t.equal(loadConfigResult({ env: {}, defaultFile: missing }).file, null, 'a missing default file is fine');
  t.match(configError(t, () => loadConfig({ env: {}, defaultFile: missing, requireFile: true })).message, 'configuration file not found');
  t.match(
    configError(t, () => loadConfig({ env: { [CONFIG_FILE_ENV]: missing } })).message,
    `${missing}: configuration file not found`,
    'so must one named in the environment',
  );
  const file = writeConfig(t, { dnsPort: 5353 });
  t.equal(loadConfig({ env: { [CONFIG_FILE_ENV]: file }, defaultFile: missing }).dnsPort, 5353);
  const dir = t.testdir({});
  t.match(configError(t, () => loadConfig({ file: dir, env: {} })).message, `${dir}: cannot read the configuration file: EISDIR`);
  t.end();
});

t.test('printConfig: the effective configuration, loadable again as a file', (t) => {
  const { config } = load({ flags: { interval: '2m', 'health.staleAfter': '10m', targets: ['10.0.0.1'] } });
  const text = printConfig(config);
  t.ok(text.endsWith('}\n'));
  t.same(JSON.parse(text), config);
  const again = load({ file: writeConfig(t, text) }).config;
  t.same(again, config);
  t.end();
});

t.test('describeConfig: every setting documented, with a unique environment variable', (t) => {
  const described = describeConfig();
  t.equal(described.length, SETTINGS.length);
  const envs = new Set(described.map((d) => d.env));
  t.equal(envs.size, described.length, 'environment variables are unique');
  t.notOk(envs.has(CONFIG_FILE_ENV), `${CONFIG_FILE_ENV} names the file, no setting`);
  for (const d of described) {
    t.ok(d.env.startsWith(ENV_PREFIX) && /^[A-Z0-9_]+$/.test(d.env), `${d.key}: ${d.env}`);
    t.ok(d.doc.length > 10 && d.formatDoc.length > 5, `${d.key} is documented`);
  }
  const socket = described.find((d) => d.key === 'discovery.docker.socketPath');
  t.same(socket, {
    key: 'discovery.docker.socketPath',
    default: '/var/run/docker.sock',
    env: 'COREDNS_HEALTHD_DISCOVERY_DOCKER_SOCKET_PATH',
    doc: socket?.doc,
    format: 'path',
    formatDoc: 'a file or directory path',
  });
  t.equal(described.find((d) => d.key === 'interval')?.default, '10s', 'defaults as written in a file');
  t.end();
});

t.test('ConfigHolder: reload applies a good file, keeps the last good config on a bad one', (t) => {
  const file = writeConfig(t, { interval: '20s' });
  let clock = 1_000;
  const holder = new ConfigHolder({ file, env: {}, now: () => new Date(clock) });
  t.equal(holder.current.interval, 20_000);
  t.same(holder.lastReload, { at: new Date(1_000), ok: true });
  const changes: number[] = [];
  const reloads: boolean[] = [];
  holder.on('change', (next, previous) => changes.push(previous.interval, next.interval));
  holder.on('reload', (r) => reloads.push(r.ok));

  clock = 2_000;
  t.same(holder.reload(), { ok: true, changed: false, at: new Date(2_000) }, 'unchanged file: no change event');

  fs.writeFileSync(file, JSON.stringify({ interval: '30s' }));
  clock = 3_000;
  t.match(holder.reload(), { ok: true, changed: true });
  t.equal(holder.current.interval, 30_000);
  t.same(changes, [20_000, 30_000]);

  fs.writeFileSync(file, '{"interval": "30s",');
  clock = 4_000;
  const bad = holder.reload();
  t.equal(bad.ok, false);
  t.type(bad.error, ConfigError);
  t.match(bad.error?.message, `${file}:1:20: invalid JSON`);
  t.equal(holder.current.interval, 30_000, 'the last good configuration stays');
  t.same(holder.lastReload, { at: new Date(4_000), ok: false });
  t.same(holder.lastSuccess, new Date(3_000));

  fs.writeFileSync(file, JSON.stringify({ interval: -1 }));
  t.match(holder.reload().error?.message, `${file}: interval: must be a duration greater than zero`);
  t.equal(holder.current.interval, 30_000);

  fs.rmSync(file);
  t.match(holder.reload().error?.message, 'configuration file not found', 'a vanished explicit file is an error, not the defaults');
  t.equal(holder.current.interval, 30_000);

  fs.writeFileSync(file, JSON.stringify({ interval: '40s' }));
  clock = 5_000;
  t.match(holder.reload(), { ok: true, changed: true });
  t.equal(holder.current.interval, 40_000);
  t.same(holder.lastReload, { at: new Date(5_000), ok: true });
  t.same(reloads, [true, true, false, false, false, true]);
  t.end();
});

t.test('ConfigHolder: a bad configuration at start is thrown', (t) => {
  const file = writeConfig(t, { nope: 1 });
  configError(t, () => new ConfigHolder({ file, env: {} }));
  t.end();
});

t.test('ConfigHolder: an unexpected loader failure becomes a ConfigError', (t) => {
  let fail = false;
  const holder = new ConfigHolder({
    load: (opts) => {
      if (fail) throw new RangeError('boom');
      return loadConfigResult({ ...opts, file: false, env: {} });
    },
  });
  fail = true;
  const r = holder.reload();
  t.equal(r.ok, false);
  t.type(r.error, ConfigError);
  t.equal(r.error?.message, 'reload: boom');
  t.type(r.error?.cause, RangeError);
  t.end();
});
