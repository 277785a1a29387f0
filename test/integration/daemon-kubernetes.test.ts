// KubeRuntime, the daemon's one door to Kubernetes: inert and saying why
// without credentials; with the fake API server, the extra sweep targets, the
// expected answer, pod names for vantages, diagnosis facts, remedies from
// real SweepReports (host rows only), OOM counting, status and reload.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { KubeConfigError } from '../../src/kube/connection.js';
import { createLogger } from '../../src/log.js';
import type { SweepReport, SweepRow, Vantage } from '../../src/model.js';
import type { RemedyDecision } from '../../src/remedy/decision.js';
import { KubeRuntime } from '../../src/daemon/kubernetes.js';
import { EVENT, POD, startFakeKube } from '../support/fake-kube/index.js';
import { until } from '../support/fake-kube/world.js';
import { checkQuery } from '../../src/probe/query-spec.js';

function capture() {
  const logs: Record<string, unknown>[] = [];
  return { logs, logger: createLogger({ level: 'debug', stream: { write: (l: string) => logs.push(JSON.parse(l) as Record<string, unknown>) } }) };
}

const config = (flags: Record<string, unknown>) => loadConfig({ file: false, env: {}, flags });

t.test('without Kubernetes: inert, and says why', async (t) => {
  const { logger, logs } = capture();
  const off = new KubeRuntime({ config: config({ 'kubernetes.enabled': false }), logger });
  off.start();
  t.equal(off.connected, false);
  t.same(off.status(), {
    kubernetes: { enabled: false, connection: { source: 'none', paths: [], detail: 'kubernetes.enabled is false: probing only, remedies off' } },
    remedy: { active: false, mode: 'off', reason: 'kubernetes.enabled is false: probing only, remedies off' },
  });
  t.same(off.sweepTargets(), []);
  t.same(await off.onSweep({ startedAt: new Date(), durationSeconds: 0, vantages: [], rows: [] }), []);
  const q = [checkQuery({ name: 'kubernetes.default.svc.cluster.local', requireAnswers: false })];
  t.same(off.queries(q), q);
  t.equal(off.kubeFacts(), undefined);
  t.equal(await off.whenSynced(10), false);
  off.event({ namespace: 'x', regarding: { apiVersion: 'v1', kind: 'Pod', name: 'p' }, type: 'Normal', reason: 'R', action: 'A', note: 'n' });
  await off.stop();
  t.match(logs, [{ msg: 'no Kubernetes: probing only, remedies off' }]);

  const none = new KubeRuntime({ config: config({}), logger, env: {}, inClusterRoot: t.testdir({}) });
  t.match(none.status(), {
    kubernetes: { enabled: true, connection: { source: 'none' } },
    remedy: { active: false, reason: /no kubernetes.kubeconfig, no \$KUBECONFIG and no in-cluster service account/ },
  });

  const bad = join(t.testdir({}), 'kubeconfig');
  writeFileSync(bad, 'clusters: [');
  t.throws(
    () => new KubeRuntime({ config: config({ 'kubernetes.kubeconfig': bad }), logger }),
    KubeConfigError,
    'a configured kubeconfig that cannot be used is an error',
  );
});

t.test('with Kubernetes: targets, answers, names, facts, remedies from sweep reports, OOM counts, status, reload', async (t) => {
  const kube = await startFakeKube({ podReadyDelayMs: 30, podTerminationMs: 30, seed: { replicas: 3, podNodes: ['node-a', 'node-b', 'node-b'] } });
  t.teardown(() => kube.close());
  const path = await kube.kubeconfig();
  const { logger, logs } = capture();
  const decisions: RemedyDecision[] = [];
  const ooms: string[] = [];
  const rt = new KubeRuntime({
    config: config({
      'kubernetes.kubeconfig': path,
      'kubernetes.nodeName': 'node-a',
      'remedy.mode': 'enforce',
      'remedy.readyTimeout': '5s',
      // One node here: a one-node cluster may act alone (remedy-quorum.test.ts has three).
      'remedy.quorum.minNodes': 1,
    }),
    logger,
    onDecision: (d) => decisions.push(d),
    onOomKill: (p, c) => ooms.push(`${p.name}/${c}`),
    requestTimeoutMs: 1000,
    backoff: { initialMs: 20, maxMs: 200 },
    pollMs: 20,
  });
  t.teardown(() => rt.stop());
  rt.start();
  t.ok(await rt.whenSynced(5000));
  const pods = rt.targets().corednsPods;
  t.same(
    rt
      .sweepTargets()
      .map((x) => x.source)
      .sort(),
    ['coredns-pod', 'coredns-pod', 'coredns-pod', 'dns-service'],
  );
  t.same(rt.queries([checkQuery({ name: 'kubernetes.default.svc.cluster.local', requireAnswers: false })])[0]!.expectAnswers, ['10.96.0.1']);
  const onA = kube.store.list(POD).find((p) => p.spec.nodeName === 'node-a')!;
  t.match(rt.labelVantages([{ id: 'netns:[9]', podUid: onA.metadata.uid } as Vantage]), [{ podName: onA.metadata.name, podNamespace: 'kube-system' }]);
  t.match(rt.kubeFacts(), { dnsServiceIps: ['10.96.0.10'], pods: [{ name: onA.metadata.name, dnsPolicy: 'Default' }] });

  const host = { id: 'netns:[1]', hostNetwork: true } as Vantage;
  const pod = { id: 'netns:[2]', hostNetwork: false } as Vantage;
  const victim = pods[1]!;
  const report = (): SweepReport => ({
    startedAt: new Date(),
    durationSeconds: 0.01,
    vantages: [],
    rows: rt.sweepTargets().flatMap((target) =>
      [host, pod].map((vantage): SweepRow => ({
        vantage,
        target,
        transport: 'udp',
        query: checkQuery({ name: 'kubernetes.default.svc.cluster.local', requireAnswers: false }),
        attempts: 1,
        // The victim fails from the host; from the pod vantage everything fails (that must not matter).
        result: {
          ok: vantage.hostNetwork && target.server !== victim.ip,
          reason: vantage.hostNetwork && target.server !== victim.ip ? null : 'timeout',
        } as unknown as SweepRow['result'],
      })),
    ),
  });
  for (let i = 0; i < 3; i++) await rt.onSweep(report());
  t.same(
    decisions.map((d) => `${d.action}/${d.result}/${d.reason}`),
    ['evict/skipped/below-threshold', 'evict/skipped/below-threshold', 'evict/acted/threshold-reached'],
  );
  t.match(
    logs.filter((l) => l.reason === 'below-threshold'),
    [{ level: 'debug' }, { level: 'debug' }],
  );
  t.match(
    logs.find((l) => l.reason === 'threshold-reached'),
    { level: 'warn', action: 'evict', result: 'acted', target: `pod kube-system/${victim.name}`, component: 'kubernetes' },
  );
  t.match(rt.status(), {
    kubernetes: { enabled: true, node: 'node-a', connection: { source: 'kubeconfig' }, watches: { synced: true } },
    remedy: { active: true, mode: 'enforce', acting: { action: 'evict' } },
  });

  // OOM kills are counted once per termination.
  await rt.idle();
  await until(
    'replacement',
    () =>
      rt.targets().corednsPods.length === 3 && !rt.targets().corednsPods.some((p) => p.uid === victim.uid) && rt.targets().corednsPods.every((p) => p.ready),
  );
  const oomPod = rt.targets().corednsPods[0]!;
  kube.cluster.setLastTermination('kube-system', oomPod.name, 'coredns', 'OOMKilled');
  await until('OOM', () => rt.targets().corednsPods.some((p) => p.containers.some((c) => c.lastTerminationReason === 'OOMKilled')));
  rt.reload(config({ 'kubernetes.kubeconfig': path, 'kubernetes.nodeName': 'node-b', 'remedy.mode': 'dry-run' }));
  t.match(logs.at(-1), { msg: 'these Kubernetes settings take effect after a restart', settings: ['kubernetes.nodeName'] });
  await rt.onSweep(report());
  await rt.onSweep(report());
  t.same(ooms, [`${oomPod.name}/coredns`]);
  t.match(
    decisions.find((d) => d.action === 'raise-memory'),
    { result: 'would-act', reason: 'oom-killed' },
    'the reload made it a dry-run',
  );
  t.equal(rt.status().remedy.mode, 'dry-run');

  // Diagnosis findings become Events through the same writer, once per window.
  const ev = {
    namespace: 'kube-system',
    regarding: { apiVersion: 'v1', kind: 'Pod', namespace: 'kube-system', name: oomPod.name },
    type: 'Warning' as const,
    reason: 'ResolvConfBroken',
    action: 'Diagnose',
    note: 'x',
  };
  rt.event(ev);
  rt.event(ev);
  await rt.stop();
  t.equal(kube.store.list(EVENT).filter((e) => e.reason === 'ResolvConfBroken').length, 1);
});
