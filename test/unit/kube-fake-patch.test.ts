// The fake API server's patch formats and selectors (test/support/fake-kube),
// checked against what the real API server does with them: RFC 6902 JSON
// Patch with "test", RFC 7386 merge patch, strategic merge by merge key, and
// label / field selectors.
import t from 'tap';
import { ApiError } from '../support/fake-kube/errors.js';
import { applyJsonPatch, applyMergePatch, applyPatch, applyStrategicMerge, type Json } from '../support/fake-kube/patch.js';
import { parseFieldSelector, parseLabelSelector, structuredMatcher } from '../support/fake-kube/selectors.js';
import { validate } from '../support/fake-kube/validate.js';

const deployment = (): Json => ({
  metadata: { name: 'coredns', annotations: { a: '1' } },
  spec: {
    template: {
      spec: {
        containers: [
          { name: 'sidecar', resources: { limits: { memory: '64Mi' } } },
          { name: 'coredns', resources: { limits: { cpu: '200m', memory: '170Mi' }, requests: { memory: '70Mi' } }, env: [{ name: 'A', value: '1' }] },
        ],
      },
    },
  },
});

t.test('JSON Patch: test, replace, add with ~1 escapes, remove; a failed test is 422', (t) => {
  const out = applyJsonPatch(deployment(), [
    { op: 'test', path: '/spec/template/spec/containers/1/name', value: 'coredns' },
    { op: 'replace', path: '/spec/template/spec/containers/1/resources/limits/memory', value: '340Mi' },
    { op: 'add', path: '/metadata/annotations/coredns-healthd~1x', value: 'y' },
    { op: 'remove', path: '/metadata/annotations/a' },
    { op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'z' } },
  ]) as { metadata: { annotations: unknown }; spec: { template: { spec: { containers: { name: string; resources?: unknown }[] } } } };
  t.same(out.metadata.annotations, { 'coredns-healthd/x': 'y' });
  t.same(out.spec.template.spec.containers[1]!.resources, { limits: { cpu: '200m', memory: '340Mi' }, requests: { memory: '70Mi' } });
  t.equal(out.spec.template.spec.containers[2]!.name, 'z');
  const failed = t.throws(() =>
    applyJsonPatch(deployment(), [{ op: 'test', path: '/spec/template/spec/containers/1/name', value: 'other' }]),
  ) as unknown as ApiError;
  t.match(failed, { code: 422, reason: 'Invalid' });
  t.throws(() => applyJsonPatch(deployment(), [{ op: 'replace', path: '/nope/x', value: 1 }]), { code: 422 });
  t.throws(() => applyJsonPatch(deployment(), { op: 'add' }), { code: 400 });
  t.same(
    applyJsonPatch({ a: [1, 2] }, [
      { op: 'move', from: '/a/0', path: '/b' },
      { op: 'copy', from: '/b', path: '/c' },
    ]),
    { a: [2], b: 1, c: 1 },
  );
  t.end();
});

t.test('merge patch: objects merge, null deletes, lists replace', (t) => {
  t.same(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] }), { a: { c: 2, d: 3 }, l: [3] });
  t.end();
});

t.test('strategic merge: containers by name, conditions by type, directives', (t) => {
  const out = applyStrategicMerge(deployment(), {
    spec: { template: { spec: { containers: [{ name: 'coredns', resources: { limits: { memory: '340Mi' } } }] } } },
  }) as {
    spec: { template: { spec: { containers: { name: string; resources: unknown; env?: unknown }[] } } };
  };
  t.same(
    out.spec.template.spec.containers.map((c) => c.name),
    ['sidecar', 'coredns'],
    'merged by name, not replaced',
  );
  t.same(out.spec.template.spec.containers[1]!.resources, { limits: { cpu: '200m', memory: '340Mi' }, requests: { memory: '70Mi' } });
  const node = {
    status: {
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'X', status: 'False' },
      ],
    },
  };
  t.same(
    applyStrategicMerge(node, {
      status: {
        conditions: [
          { type: 'X', status: 'True' },
          { type: 'New', status: 'True' },
        ],
      },
    }),
    {
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'X', status: 'True' },
          { type: 'New', status: 'True' },
        ],
      },
    },
  );
  t.same(applyStrategicMerge(node, { status: { conditions: [{ type: 'Ready', $patch: 'delete' }] } }), {
    status: { conditions: [{ type: 'X', status: 'False' }] },
  });
  t.same(applyStrategicMerge({ f: ['a'] }, { finalizers: ['x'], f: ['b'] }), { f: ['b'], finalizers: ['x'] }, 'lists without a merge key are replaced');
  t.same(
    applyStrategicMerge({ spec: { ports: [{ port: 53, protocol: 'UDP' }] } }, { spec: { ports: [{ port: 53, name: 'dns' }] } }),
    { spec: { ports: [{ port: 53, protocol: 'UDP', name: 'dns' }] } },
    'Service ports by port',
  );
  t.same(applyStrategicMerge({ a: { b: 1 } }, { a: { $patch: 'replace', c: 2 } }), { a: { c: 2 } });
  t.throws(() => applyPatch('application/apply-patch+yaml', {}, '{}'), { code: 415 });
  t.throws(() => applyPatch('application/merge-patch+json', {}, '{'), { code: 400 });
  t.end();
});

t.test('selectors', (t) => {
  const m = parseLabelSelector('k8s-app=kube-dns,tier!=web,env in (prod, stage),!legacy,team');
  t.ok(m({ 'k8s-app': 'kube-dns', env: 'prod', team: 'dns' }));
  t.notOk(m({ 'k8s-app': 'kube-dns', env: 'dev', team: 'dns' }));
  t.notOk(m({ 'k8s-app': 'kube-dns', env: 'prod', team: 'dns', legacy: 'y' }));
  t.notOk(m({ 'k8s-app': 'kube-dns', env: 'prod' }));
  t.ok(parseLabelSelector('')({}));
  t.throws(() => parseLabelSelector('a=(b'), { code: 400 });
  t.ok(structuredMatcher({ matchLabels: { a: 'b' }, matchExpressions: [{ key: 'c', operator: 'NotIn', values: ['d'] }] })({ a: 'b' }));
  t.notOk(structuredMatcher(undefined)({}), 'no selector matches nothing');
  const f = parseFieldSelector('spec.nodeName=node-a,metadata.name!=x');
  t.ok(f({ metadata: { name: 'y' }, spec: { nodeName: 'node-a' } }));
  t.notOk(f({ metadata: { name: 'x' }, spec: { nodeName: 'node-a' } }));
  t.ok(parseFieldSelector('spec.nodeName=')({ spec: {} }), 'an absent field is ""');
  t.end();
});

t.test('validation: MicroTime, Event fields, memory request ≤ limit', (t) => {
  const lease = (renewTime: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' } as never, spec: { renewTime } });
  t.doesNotThrow(() => validate('coordination.k8s.io/leases', lease('2024-05-01T12:00:00.123456Z')));
  t.throws(() => validate('coordination.k8s.io/leases', lease('2024-05-01T12:00:00.123Z')), {
    code: 422,
    message: /spec.renewTime: .*exactly 6 fractional digits/,
  });
  t.throws(
    () => validate('events.k8s.io/events', { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e', namespace: 'x' } as never, type: 'Info' }),
    {
      message: /eventTime: Required value, reportingController: Required value, .*type: Unsupported value/,
    },
  );
  const dep = (request: string) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd' } as never,
    spec: { template: { spec: { containers: [{ name: 'c', resources: { limits: { memory: '100Mi' }, requests: { memory: request } } }] } } },
  });
  t.doesNotThrow(() => validate('apps/deployments', dep('100Mi')));
  t.throws(() => validate('apps/deployments', dep('101Mi')), { message: /must be less than or equal to memory limit/ });
  t.throws(() => validate('apps/deployments', dep('lots')), { message: /quantities must match/ });
  t.end();
});
