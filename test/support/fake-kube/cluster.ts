// What the controllers and kubelets of a real cluster would do, reduced to
// what coredns-healthd observes: Deployments own a ReplicaSet per pod
// template and keep its pods at the replica count (a pod that is deleted or
// evicted is replaced; a template change rolls out new pods and then retires
// the old ones); pods become Running and Ready after a delay and leave after
// a grace delay; the Eviction subresource honours PodDisruptionBudgets.
// Seed helpers build the objects a CoreDNS installation has.
import { createHash, randomBytes } from 'node:crypto';
import { ApiError } from './errors.js';
import { structuredMatcher, type StructuredSelector } from './selectors.js';
import { now, type ChangeEvent, type KubeObject, type Store } from './store.js';

export const POD = '/pods';
export const SERVICE = '/services';
export const NODE = '/nodes';
export const NAMESPACE = '/namespaces';
export const DEPLOYMENT = 'apps/deployments';
export const REPLICASET = 'apps/replicasets';
export const PDB = 'policy/poddisruptionbudgets';
export const LEASE = 'coordination.k8s.io/leases';
export const EVENT = 'events.k8s.io/events';
export const CORE_EVENT = '/events';

export interface ClusterOptions {
  /** A new pod turns Running and Ready after this long. Default 30 ms. */
  podReadyDelayMs?: number;
  /** A deleted pod is gone after this long (its grace period, shortened). Default 30 ms. */
  podTerminationMs?: number;
  /** The IP of a new pod; default 10.244.0.2, .3, ... */
  podIp?: ((pod: KubeObject) => string) | undefined;
}

export interface ContainerSeed {
  name: string;
  image?: string;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  ports?: { name?: string; containerPort: number; protocol?: string }[];
}

export interface DeploymentSeed {
  namespace: string;
  name: string;
  replicas: number;
  /** Pod labels (also the Deployment's selector). */
  labels: Record<string, string>;
  containers: ContainerSeed[];
  /** IPs of the initial pods, in order. */
  podIps?: string[];
  /** Nodes of the initial pods, in order; default round-robin over the nodes. */
  nodeNames?: string[];
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isReady(pod: KubeObject): boolean {
  return (
    !pod.metadata.deletionTimestamp && (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True')
  );
}

function controllerOf(o: KubeObject): { kind: string; name: string; uid: string } | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller);
}

function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10).replace(/^\d/, 'b');
}

function intOrPercent(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(String(v));
  if (!m) throw ApiError.badRequest(`invalid int-or-percent ${JSON.stringify(v)}`);
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

export class Cluster {
  readonly store: Store;
  readonly #opts: Required<Omit<ClusterOptions, 'podIp'>> & Pick<ClusterOptions, 'podIp'>;
  #nextIp = 2;
  #rr = 0;
  #timers = new Set<NodeJS.Timeout>();
  #queued = new Set<string>();
  #stopped = false;
  readonly #onChange: (ev: ChangeEvent) => void;

  constructor(store: Store, opts: ClusterOptions = {}) {
    this.store = store;
    this.#opts = { podReadyDelayMs: opts.podReadyDelayMs ?? 30, podTerminationMs: opts.podTerminationMs ?? 30, podIp: opts.podIp };
    this.#onChange = (ev) => this.#react(ev);
    store.on('change', this.#onChange);
  }

  stop(): void {
    this.#stopped = true;
    this.store.off('change', this.#onChange);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #later(ms: number, fn: () => void): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#stopped) fn();
    }, ms);
    this.#timers.add(t);
  }

  /** Resolves when no simulated controller work is queued or waiting on a timer. */
  async settle(): Promise<void> {
    for (let i = 0; i < 1000 && (this.#timers.size > 0 || this.#queued.size > 0); i++) await delay(5);
  }

  // ------------------------------------------------------------ seeding

  addNamespace(name: string): KubeObject {
    return this.store.create(NAMESPACE, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name } as KubeObject['metadata'],
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  }

  addNode(name: string, internalIp: string): KubeObject {
    return this.store.create(NODE, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } } as unknown as KubeObject['metadata'],
      spec: { podCIDR: '10.244.0.0/24' },
      status: {
        addresses: [
          { type: 'InternalIP', address: internalIp },
          { type: 'Hostname', address: name },
        ],
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'kubelet is posting ready status',
            lastHeartbeatTime: now(),
            lastTransitionTime: now(),
          },
        ],
        nodeInfo: {
          kubeletVersion: 'v1.32.4',
          containerRuntimeVersion: 'containerd://1.7.0',
          osImage: 'fake',
          kernelVersion: '6.1.0',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    });
  }

  addService(s: {
    namespace: string;
    name: string;
    selector?: Record<string, string>;
    clusterIPs: string[];
    ports: { name?: string; port: number; protocol?: string; targetPort?: number }[];
    labels?: Record<string, string>;
  }): KubeObject {
    return this.store.create(SERVICE, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.namespace, ...(s.labels ? { labels: s.labels } : {}) } as KubeObject['metadata'],
      spec: {
        ...(s.selector ? { selector: s.selector } : {}),
        type: 'ClusterIP',
        clusterIP: s.clusterIPs[0],
        clusterIPs: s.clusterIPs,
        ipFamilies: s.clusterIPs.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')),
        ipFamilyPolicy: s.clusterIPs.length > 1 ? 'PreferDualStack' : 'SingleStack',
        ports: s.ports.map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })),
        sessionAffinity: 'None',
      },
      status: { loadBalancer: {} },
    });
  }

  addPdb(p: { namespace: string; name: string; selector: StructuredSelector; minAvailable?: number | string; maxUnavailable?: number | string }): KubeObject {
    const pdb = this.store.create(PDB, {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: p.name, namespace: p.namespace } as KubeObject['metadata'],
      spec: {
        selector: p.selector,
        ...(p.minAvailable !== undefined ? { minAvailable: p.minAvailable } : {}),
        ...(p.maxUnavailable !== undefined ? { maxUnavailable: p.maxUnavailable } : {}),
      },
    });
    this.#refreshPdb(pdb);
    return this.store.mustGet(PDB, p.namespace, p.name);
  }

  /** A Deployment with its ReplicaSet and its pods, already Running and Ready. */
  addDeployment(d: DeploymentSeed): KubeObject {
    const template = {
      metadata: { labels: { ...d.labels } },
      spec: {
        containers: d.containers.map((c) => ({
          image: 'registry.k8s.io/coredns/coredns:v1.11.3',
          imagePullPolicy: 'IfNotPresent',
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          ...c,
          resources: c.resources ?? {},
        })),
        dnsPolicy: 'Default',
        restartPolicy: 'Always',
        schedulerName: 'default-scheduler',
        terminationGracePeriodSeconds: 30,
      },
    };
    const dep = this.store.create(DEPLOYMENT, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: d.name,
        namespace: d.namespace,
        labels: { ...d.labels },
        annotations: { 'deployment.kubernetes.io/revision': '1' },
      } as unknown as KubeObject['metadata'],
      spec: {
        replicas: d.replicas,
        selector: { matchLabels: { ...d.labels } },
        template,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: '25%' } },
        revisionHistoryLimit: 10,
        progressDeadlineSeconds: 600,
      },
      status: {},
    });
    const rs = this.#ensureReplicaSet(dep);
    for (let i = 0; i < d.replicas; i++) {
      const pod = this.#createPod(rs, d.nodeNames?.[i]);
      this.#makeReady(pod, d.podIps?.[i]);
    }
    this.#reconcile(d.namespace, d.name);
    return this.store.mustGet(DEPLOYMENT, d.namespace, d.name);
  }

  // ------------------------------------------------------- test controls

  setPodReady(namespace: string, name: string, ready: boolean): void {
    const pod = this.store.mustGet(POD, namespace, name);
    pod.status.conditions = (pod.status.conditions ?? []).map((c: { type: string }) =>
      c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: ready ? 'True' : 'False', lastTransitionTime: now() } : c,
    );
    for (const cs of pod.status.containerStatuses ?? []) cs.ready = ready;
    this.store.update(POD, pod);
  }

  /** Records that a container was restarted after terminating for `reason` (e.g. "OOMKilled", exit code 137). */
  setLastTermination(namespace: string, podName: string, container: string, reason: string, exitCode = 137): void {
    const pod = this.store.mustGet(POD, namespace, podName);
    const cs = (pod.status.containerStatuses ?? []).find((c: { name: string }) => c.name === container);
    if (!cs) throw new Error(`pod ${namespace}/${podName} has no container ${container}`);
    const t = now();
    cs.restartCount = (cs.restartCount ?? 0) + 1;
    cs.lastState = { terminated: { exitCode, reason, startedAt: cs.state?.running?.startedAt ?? t, finishedAt: t, containerID: cs.containerID } };
    cs.state = { running: { startedAt: t } };
    this.store.update(POD, pod);
  }

  // ------------------------------------------------------------ pods

  #nodes(): string[] {
    return this.store
      .list(NODE)
      .filter((n) => !n.spec?.unschedulable)
      .map((n) => n.metadata.name);
  }

  #createPod(rs: KubeObject, nodeName?: string): KubeObject {
    const template = rs.spec.template;
    const nodes = this.#nodes();
    const node = nodeName ?? (nodes.length ? nodes[this.#rr++ % nodes.length] : undefined);
    return this.store.create(POD, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${rs.metadata.name}-${randomBytes(3).toString('hex').slice(0, 5)}`,
        namespace: rs.metadata.namespace,
        labels: { ...template.metadata.labels },
        ...(template.metadata.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true },
        ],
      } as unknown as KubeObject['metadata'],
      spec: { ...structuredClone(template.spec), ...(node ? { nodeName: node } : {}) },
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: node ? 'True' : 'False', lastTransitionTime: now() }], qosClass: 'Burstable' },
    });
  }

  #allocateIp(pod: KubeObject): string {
    if (this.#opts.podIp) return this.#opts.podIp(pod);
    const n = this.#nextIp++;
    return `10.244.${Math.floor(n / 250)}.${(n % 250) + 1}`;
  }

  #makeReady(pod: KubeObject, ip?: string): void {
    const current = this.store.get(POD, pod.metadata.namespace, pod.metadata.name);
    if (!current || current.metadata.uid !== pod.metadata.uid || current.metadata.deletionTimestamp) return;
    const node = current.spec.nodeName ? this.store.get(NODE, undefined, current.spec.nodeName) : undefined;
    const hostIP = node?.status?.addresses?.find((a: { type: string }) => a.type === 'InternalIP')?.address;
    const podIP = ip ?? this.#allocateIp(current);
    const t = now();
    current.status = {
      phase: 'Running',
      ...(hostIP ? { hostIP, hostIPs: [{ ip: hostIP }] } : {}),
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: t,
      qosClass: 'Burstable',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
        type,
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: t,
      })),
      containerStatuses: current.spec.containers.map((c: { name: string; image: string }) => ({
        name: c.name,
        image: c.image,
        imageID: `${c.image}@sha256:${'0'.repeat(64)}`,
        containerID: `containerd://${randomBytes(32).toString('hex')}`,
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: t } },
        lastState: {},
      })),
    };
    this.store.update(POD, current);
  }

  /** DELETE on a pod: with a grace period it turns terminating and goes after podTerminationMs. */
  deletePod(namespace: string, name: string, gracePeriodSeconds?: number): KubeObject {
    const pod = this.store.mustGet(POD, namespace, name);
    const grace = gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    if (grace === 0 || !pod.spec?.nodeName) return this.store.remove(POD, namespace, name);
    if (pod.metadata.deletionTimestamp) return pod;
    pod.metadata.deletionTimestamp = now();
    pod.metadata.deletionGracePeriodSeconds = grace;
    const updated = this.store.update(POD, pod);
    const uid = pod.metadata.uid;
    this.#later(this.#opts.podTerminationMs, () => {
      const cur = this.store.get(POD, namespace, name);
      if (cur && cur.metadata.uid === uid) this.store.remove(POD, namespace, name);
    });
    return updated;
  }

  // --------------------------------------------------------- eviction

  #pdbsFor(pod: KubeObject): KubeObject[] {
    return this.store.list(PDB, { namespace: pod.metadata.namespace }).filter((p) => structuredMatcher(p.spec.selector)(pod.metadata.labels ?? {}));
  }

  #pdbNumbers(pdb: KubeObject): { expected: number; currentHealthy: number; desiredHealthy: number; disrupted: Record<string, string> } {
    const pods = this.store.list(POD, { namespace: pdb.metadata.namespace }).filter((p) => structuredMatcher(pdb.spec.selector)(p.metadata.labels ?? {}));
    const disrupted: Record<string, string> = { ...(pdb.status?.disruptedPods ?? {}) };
    for (const name of Object.keys(disrupted)) {
      const p = pods.find((x) => x.metadata.name === name);
      if (!p || p.metadata.deletionTimestamp) delete disrupted[name];
    }
    const live = pods.filter((p) => !p.metadata.deletionTimestamp);
    const expected = live.length;
    const currentHealthy = live.filter((p) => isReady(p) && !disrupted[p.metadata.name]).length;
    let desiredHealthy = 0;
    if (pdb.spec.minAvailable !== undefined) desiredHealthy = intOrPercent(pdb.spec.minAvailable, expected, true);
    else if (pdb.spec.maxUnavailable !== undefined) desiredHealthy = Math.max(0, expected - intOrPercent(pdb.spec.maxUnavailable, expected, true));
    return { expected, currentHealthy, desiredHealthy, disrupted };
  }

  #refreshPdb(pdb: KubeObject): void {
    const cur = this.store.get(PDB, pdb.metadata.namespace, pdb.metadata.name);
    if (!cur) return;
    const n = this.#pdbNumbers(cur);
    cur.status = {
      observedGeneration: cur.metadata.generation,
      disruptionsAllowed: Math.max(0, n.currentHealthy - n.desiredHealthy),
      currentHealthy: n.currentHealthy,
      desiredHealthy: n.desiredHealthy,
      expectedPods: n.expected,
      ...(Object.keys(n.disrupted).length ? { disruptedPods: n.disrupted } : {}),
      conditions: [
        {
          type: 'DisruptionAllowed',
          status: n.currentHealthy > n.desiredHealthy ? 'True' : 'False',
          reason: n.currentHealthy > n.desiredHealthy ? 'SufficientPods' : 'InsufficientPods',
          message: '',
          observedGeneration: cur.metadata.generation,
          lastTransitionTime: cur.status?.conditions?.[0]?.lastTransitionTime ?? now(),
        },
      ],
    };
    this.store.update(PDB, cur);
  }

  /** POST pods/<name>/eviction (policy/v1 semantics, IfHealthyBudget). */
  evict(namespace: string, name: string, body: KubeObject): void {
    if (body?.kind !== 'Eviction' || !['policy/v1', 'policy/v1beta1'].includes(body?.apiVersion)) {
      throw ApiError.badRequest(`the body must be a policy/v1 Eviction, got ${body?.apiVersion}/${body?.kind}`);
    }
    if (body.metadata?.name !== name) throw ApiError.badRequest(`name in URL does not match name in Eviction object`);
    const pod = this.store.mustGet(POD, namespace, name);
    const uid = body.deleteOptions?.preconditions?.uid;
    if (uid && uid !== pod.metadata.uid) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on Pod "${name}": Precondition failed: UID in precondition: ${uid}, UID in object meta: ${pod.metadata.uid}`,
        { name, kind: 'pods' },
      );
    }
    const grace = body.deleteOptions?.gracePeriodSeconds;
    if (pod.metadata.deletionTimestamp || ['Succeeded', 'Failed'].includes(pod.status?.phase)) {
      this.deletePod(namespace, name, grace);
      return;
    }
    const pdbs = this.#pdbsFor(pod);
    if (pdbs.length > 1) throw ApiError.internal('This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    const pdb = pdbs[0];
    if (pdb) {
      const n = this.#pdbNumbers(pdb);
      const healthy = isReady(pod);
      // An unhealthy pod may go when the budget is met without it (IfHealthyBudget).
      const allowed = healthy ? n.currentHealthy - n.desiredHealthy > 0 : n.currentHealthy >= n.desiredHealthy;
      if (!allowed) {
        throw new ApiError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
          causes: [
            {
              reason: 'DisruptionBudget',
              message: `The disruption budget ${pdb.metadata.name} needs ${n.desiredHealthy} healthy pods and has ${n.currentHealthy} currently`,
            },
          ],
        });
      }
      const cur = this.store.mustGet(PDB, namespace, pdb.metadata.name);
      cur.status = { ...cur.status, disruptedPods: { ...(cur.status?.disruptedPods ?? {}), [name]: now() } };
      this.store.update(PDB, cur);
    }
    this.deletePod(namespace, name, grace);
  }

  // -------------------------------------------------------- controllers

  #react(ev: ChangeEvent): void {
    if (this.#stopped) return;
    const o = ev.object;
    if (ev.resKey === DEPLOYMENT) this.#queue(o.metadata.namespace!, o.metadata.name);
    else if (ev.resKey === POD || ev.resKey === REPLICASET) {
      const owner = controllerOf(ev.resKey === POD ? (this.store.get(REPLICASET, o.metadata.namespace, controllerOf(o)?.name ?? '') ?? o) : o);
      if (owner?.kind === 'Deployment') this.#queue(o.metadata.namespace!, owner.name);
      if (ev.resKey === POD) for (const pdb of this.store.list(PDB, { namespace: o.metadata.namespace })) this.#queuePdb(pdb);
    }
  }

  #queuePdb(pdb: KubeObject): void {
    const key = `pdb:${pdb.metadata.namespace}/${pdb.metadata.name}`;
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    setImmediate(() => {
      this.#queued.delete(key);
      if (!this.#stopped) this.#refreshPdb(pdb);
    });
  }

  #queue(namespace: string, name: string): void {
    const key = `deploy:${namespace}/${name}`;
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    setImmediate(() => {
      this.#queued.delete(key);
      if (!this.#stopped) this.#reconcile(namespace, name);
    });
  }

  #ensureReplicaSet(dep: KubeObject): KubeObject {
    const hash = templateHash(dep.spec.template);
    const name = `${dep.metadata.name}-${hash}`;
    const existing = this.store.get(REPLICASET, dep.metadata.namespace, name);
    const replicas = dep.spec.replicas ?? 1;
    if (existing) {
      if (existing.spec.replicas !== replicas) {
        existing.spec.replicas = replicas;
        return this.store.update(REPLICASET, existing);
      }
      return existing;
    }
    const labels = { ...dep.spec.template.metadata.labels, 'pod-template-hash': hash };
    const revision = this.store.list(REPLICASET, { namespace: dep.metadata.namespace }).filter((r) => controllerOf(r)?.uid === dep.metadata.uid).length + 1;
    return this.store.create(REPLICASET, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: dep.metadata.namespace,
        labels,
        annotations: { 'deployment.kubernetes.io/revision': String(revision) },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name, uid: dep.metadata.uid, controller: true, blockOwnerDeletion: true },
        ],
      } as unknown as KubeObject['metadata'],
      spec: {
        replicas,
        selector: { matchLabels: { ...dep.spec.selector.matchLabels, 'pod-template-hash': hash } },
        template: { ...structuredClone(dep.spec.template), metadata: { ...structuredClone(dep.spec.template.metadata), labels } },
      },
      status: { replicas: 0 },
    });
  }

  #reconcile(namespace: string, name: string): void {
    const dep = this.store.get(DEPLOYMENT, namespace, name);
    if (!dep) return;
    const rs = this.#ensureReplicaSet(dep);
    const owned = this.store.list(REPLICASET, { namespace }).filter((r) => controllerOf(r)?.uid === dep.metadata.uid);
    const podsOf = (r: KubeObject): KubeObject[] => this.store.list(POD, { namespace }).filter((p) => controllerOf(p)?.uid === r.metadata.uid);
    const replicas = dep.spec.replicas ?? 1;
    const current = podsOf(rs).filter((p) => !p.metadata.deletionTimestamp);
    for (let i = current.length; i < replicas; i++) {
      const pod = this.#createPod(rs, undefined);
      this.#later(this.#opts.podReadyDelayMs, () => this.#makeReady(pod));
    }
    for (const extra of current.slice(replicas)) this.deletePod(namespace, extra.metadata.name);
    const newReady = podsOf(rs).filter(isReady).length;
    const old = owned.filter((r) => r.metadata.uid !== rs.metadata.uid);
    if (newReady >= replicas) {
      for (const r of old) {
        for (const p of podsOf(r)) if (!p.metadata.deletionTimestamp) this.deletePod(namespace, p.metadata.name);
        if (r.spec.replicas !== 0) {
          r.spec.replicas = 0;
          this.store.update(REPLICASET, r);
        }
      }
    }
    const all = owned.flatMap(podsOf).filter((p) => !p.metadata.deletionTimestamp);
    const updated = podsOf(rs).filter((p) => !p.metadata.deletionTimestamp);
    const ready = all.filter(isReady).length;
    const latest = this.store.get(DEPLOYMENT, namespace, name);
    if (!latest) return;
    const complete = updated.length === replicas && all.length === replicas && ready === replicas;
    latest.status = {
      observedGeneration: latest.metadata.generation,
      replicas: all.length,
      updatedReplicas: updated.length,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(all.length - ready > 0 ? { unavailableReplicas: all.length - ready } : {}),
      conditions: [
        {
          type: 'Available',
          status: ready >= replicas - 1 ? 'True' : 'False',
          reason: ready >= replicas - 1 ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          message: 'Deployment availability',
        },
        {
          type: 'Progressing',
          status: 'True',
          reason: complete ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
          message: complete ? `ReplicaSet "${rs.metadata.name}" has successfully progressed.` : `ReplicaSet "${rs.metadata.name}" is progressing.`,
        },
      ].map((c, i) => ({
        ...c,
        lastUpdateTime: latest.status?.conditions?.[i]?.lastUpdateTime ?? now(),
        lastTransitionTime: latest.status?.conditions?.[i]?.lastTransitionTime ?? now(),
      })),
    };
    const revision = rs.metadata.annotations?.['deployment.kubernetes.io/revision'];
    if (revision) latest.metadata.annotations = { ...latest.metadata.annotations, 'deployment.kubernetes.io/revision': revision };
    this.store.update(DEPLOYMENT, latest);
    const rsNow = this.store.get(REPLICASET, namespace, rs.metadata.name);
    if (rsNow) {
      rsNow.status = {
        replicas: updated.length,
        readyReplicas: podsOf(rs).filter(isReady).length,
        availableReplicas: podsOf(rs).filter(isReady).length,
        observedGeneration: rsNow.metadata.generation,
        fullyLabeledReplicas: updated.length,
      };
      this.store.update(REPLICASET, rsNow);
    }
  }
}
