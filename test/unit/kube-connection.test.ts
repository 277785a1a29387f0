// Where credentials come from: kubernetes.kubeconfig, then $KUBECONFIG (merged
// as kubectl does), then the in-cluster service account; none is a supported
// mode. A file that is named but unusable is an error naming the file.
import t, { type Test } from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfigError, kubeConfigOf, resolveKubeConnection, SERVICE_ACCOUNT_DIR } from '../../src/kube/connection.js';
import { KubeClient } from '../../src/kube/client.js';

const kubeconfig = (o: { server?: string; context?: string; user?: string; cluster?: string; current?: string | null; extra?: string } = {}): string => {
  const cluster = o.cluster ?? 'c1';
  const user = o.user ?? 'u1';
  const context = o.context ?? 'ctx1';
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${cluster}`,
    '  cluster:',
    `    server: ${o.server ?? 'https://10.0.0.1:6443'}`,
    '    certificate-authority: ca.crt',
    'users:',
    `- name: ${user}`,
    '  user:',
    '    token: abc',
    'contexts:',
    `- name: ${context}`,
    '  context:',
    `    cluster: ${cluster}`,
    `    user: ${user}`,
    ...(o.current === null ? [] : [`current-context: ${o.current ?? context}`]),
    o.extra ?? '',
  ].join('\n');
};

function dir(t: Test): string {
  return t.testdir({});
}

t.test('the configured kubeconfig path', (t) => {
  const d = dir(t);
  const path = join(d, 'kubeconfig');
  writeFileSync(path, kubeconfig());
  const c = resolveKubeConnection({ kubeconfig: path, env: { KUBECONFIG: '/nonexistent' } });
  t.ok(c.connected);
  t.same(c.info, { source: 'kubeconfig', paths: [path], server: 'https://10.0.0.1:6443', context: 'ctx1', user: 'u1' });
  t.equal(kubeConfigOf(c)?.getCurrentCluster()?.caFile, join(d, 'ca.crt'), 'relative paths are relative to the file');
  const client = new KubeClient(c, { reportingInstance: 'n' });
  t.equal(client.server, 'https://10.0.0.1:6443');
  t.end();
});

t.test('unusable kubeconfig files name the file and the problem', (t) => {
  const d = dir(t);
  const cases: [string, string, RegExp][] = [
    ['missing', '', /kubeconfig .*missing: no such file/],
    ['garbage', 'clusters: [', /not a valid kubeconfig/],
    ['nocontext', kubeconfig({ current: null }), /has no current-context/],
    ['badcontext', kubeconfig({ current: 'other' }), /current-context "other" is not defined/],
    ['badserver', kubeconfig({ server: 'not a url' }), /no valid server URL/],
    ['ftp', kubeconfig({ server: 'ftp://x' }), /server must be an https:\/\/ URL/],
  ];
  for (const [name, text, re] of cases) {
    const path = join(d, name);
    if (text) writeFileSync(path, text);
    const err = t.throws(() => resolveKubeConnection({ kubeconfig: path, env: {} }), KubeConfigError, name) as unknown as KubeConfigError;
    t.match(err.message, re, name);
    t.equal(err.path, path);
  }
  t.end();
});

t.test('$KUBECONFIG: a list of files, the first to define a name wins; missing entries skipped', (t) => {
  const d = dir(t);
  const a = join(d, 'a');
  const b = join(d, 'b');
  writeFileSync(a, kubeconfig({ server: 'https://a:6443' }));
  writeFileSync(b, kubeconfig({ server: 'https://b:6443', cluster: 'c2', context: 'ctx2', user: 'u2' }));
  const c = resolveKubeConnection({ kubeconfig: '', env: { KUBECONFIG: `${join(d, 'none')}:${a}:${b}` } });
  t.same(c.info, { source: 'env', paths: [a, b], server: 'https://a:6443', context: 'ctx1', user: 'u1' });
  t.equal(kubeConfigOf(c)?.getContexts().length, 2, 'merged');
  const onlyB = resolveKubeConnection({ kubeconfig: '', env: { KUBECONFIG: `${b}:${a}` } });
  t.equal(onlyB.info.server, 'https://b:6443');
  t.throws(() => resolveKubeConnection({ kubeconfig: '', env: { KUBECONFIG: join(d, 'none') } }), /KUBECONFIG names no readable file/);
  t.end();
});

t.test('in-cluster service account, and no credentials at all', (t) => {
  const root = dir(t);
  const sa = join(root, SERVICE_ACCOUNT_DIR);
  const env = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
  const none = resolveKubeConnection({ kubeconfig: '', env, inClusterRoot: root });
  t.equal(none.info.source, 'none', 'no token file: not in a cluster');
  t.notOk(none.connected);
  t.match(none.info.detail, /remedies off/);
  t.throws(() => new KubeClient(none, { reportingInstance: 'n' }), /source is "none"/);

  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), 'tok');
  writeFileSync(join(sa, 'namespace'), 'kube-system');
  t.throws(() => resolveKubeConnection({ kubeconfig: '', env, inClusterRoot: root }), /service account CA certificate is not readable/);
  writeFileSync(join(sa, 'ca.crt'), 'x');
  const before = process.env.KUBERNETES_SERVICE_HOST;
  const c = resolveKubeConnection({ kubeconfig: '', env, inClusterRoot: root });
  t.equal(c.info.source, 'in-cluster');
  t.equal(c.info.server, 'https://[fd00::1]:443');
  t.equal(process.env.KUBERNETES_SERVICE_HOST, before, 'the process environment is left as it was');
  t.equal(
    resolveKubeConnection({ kubeconfig: '', env: {}, inClusterRoot: root }).info.source,
    'none',
    'a token without the service environment is not in-cluster',
  );
  t.end();
});
