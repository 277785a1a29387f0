// A fake Kubernetes API server for tests, speaking the real wire protocol over
// HTTPS to the real @kubernetes/client-node and to kubectl: a test CA made at
// start, bearer-token, client-certificate and exec-plugin kubeconfig files,
// resourceVersions, list + watch, 410 Gone after compaction, 409 Conflict,
// simulated controllers (Deployment rollouts, pod replacement, PDB-honouring
// evictions), optional RBAC, and injectable faults.
//
//   const kube = await startFakeKube();           // seeded with CoreDNS
//   t.teardown(() => kube.close());
//   const kc = kube.kubeconfig();                  // token auth, a file path
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dumpYaml } from '@kubernetes/client-node';
import { Cluster, type ClusterOptions } from './cluster.js';
import { Faults } from './faults.js';
import { createPki, type Pki } from './pki.js';
import type { Grant, PolicyRule } from './rbac.js';
import { seedCoreDns, type CoreDnsSeed, type SeededCoreDns } from './seed.js';
import { FakeApiServer, type User } from './server.js';
import { Store } from './store.js';

export { ApiError } from './errors.js';
export type { FaultRule, FaultHandle, RequestAttributes } from './faults.js';
export type { Grant, PolicyRule } from './rbac.js';
export type { KubeObject } from './store.js';
export type { RequestRecord } from './server.js';
export { POD, SERVICE, NODE, DEPLOYMENT, REPLICASET, PDB, LEASE, EVENT, CORE_EVENT } from './cluster.js';

export interface FakeKubeOptions extends ClusterOptions {
  /** Seed a CoreDNS installation (default true); an object customises it. */
  seed?: boolean | CoreDnsSeed;
  bookmarkIntervalMs?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
}

export type AuthMethod = 'token' | 'cert' | 'exec';

export interface KubeconfigOptions {
  auth?: AuthMethod;
  user?: string;
  groups?: string[];
  /** Trust this CA instead of the cluster's (to test a TLS failure). */
  caCert?: string;
  /** Server URL written in the file (default the fake's). */
  server?: string;
  /** The file name inside the fake's directory. */
  fileName?: string;
}

export interface FakeKube {
  readonly url: string;
  readonly pki: Pki;
  readonly store: Store;
  readonly cluster: Cluster;
  readonly faults: Faults;
  readonly server: FakeApiServer;
  readonly coredns: SeededCoreDns | undefined;
  /** Writes a kubeconfig for a (new) identity and returns its path. Default: token auth as "coredns-healthd". */
  kubeconfig(opts?: KubeconfigOptions): Promise<string>;
  /** A bearer token for `user`. */
  token(user: string, groups?: string[]): string;
  /** Holds `user` to these grants (RBAC); without a call a user may do anything. */
  grant(user: string, grants: Grant[]): void;
  /** Stops listening and cuts every connection: the API server is down. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const pki = await createPki();
  const store = new Store();
  const cluster = new Cluster(store, opts);
  const faults = new Faults();
  const tokens = new Map<string, User>();
  const grants = new Map<string, Grant[]>();
  const server = new FakeApiServer({
    store,
    cluster,
    pki,
    tokens,
    grants,
    faults,
    ...(opts.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {}),
  });
  try {
    await server.listen(0, opts.host ?? '127.0.0.1');
  } catch (err) {
    cluster.stop();
    await pki.remove();
    throw err;
  }
  const coredns = opts.seed === false ? undefined : seedCoreDns(cluster, typeof opts.seed === 'object' ? opts.seed : {});
  await cluster.settle();
  let files = 0;

  const token = (user: string, groups: string[] = []): string => {
    const t = `${user.replace(/[^a-z0-9]/gi, '')}.${randomBytes(16).toString('hex')}`;
    tokens.set(t, { name: user, groups });
    return t;
  };

  const kubeconfig = async (o: KubeconfigOptions = {}): Promise<string> => {
    const auth = o.auth ?? 'token';
    const userName = o.user ?? 'coredns-healthd';
    const path = join(pki.dir, o.fileName ?? `kubeconfig-${auth}-${++files}.yaml`);
    let user: Record<string, unknown>;
    if (auth === 'token') user = { token: token(userName, o.groups) };
    else if (auth === 'cert') {
      const pair = await pki.client(userName, o.groups ?? []);
      user = { 'client-certificate': pair.certFile, 'client-key': pair.keyFile };
    } else {
      // An exec credential plugin: a node script printing an ExecCredential.
      const script = join(pki.dir, `exec-plugin-${files}.mjs`);
      const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: token(userName, o.groups) } };
      await writeFile(script, `process.stdout.write(${JSON.stringify(JSON.stringify(credential))});\n`);
      user = {
        exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [script], interactiveMode: 'Never', provideClusterInfo: false },
      };
    }
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'fake', cluster: { server: o.server ?? server.url, 'certificate-authority-data': Buffer.from(o.caCert ?? pki.ca.cert).toString('base64') } },
      ],
      users: [{ name: userName, user }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: userName, namespace: 'default' } }],
      'current-context': 'fake',
      preferences: {},
    };
    await writeFile(path, dumpYaml(config), { mode: 0o600 });
    return path;
  };

  return {
    get url() {
      return server.url;
    },
    pki,
    store,
    cluster,
    faults,
    server,
    coredns,
    kubeconfig,
    token,
    grant: (user, g) => grants.set(user, g),
    down: () => server.close(),
    up: () => server.listen(),
    close: async () => {
      cluster.stop();
      await server.close();
      await pki.remove();
    },
  };
}

/** Grants from a ClusterRole's or Role's rules. */
export const grantOf = (rules: PolicyRule[], namespace?: string): Grant => ({ rules, ...(namespace !== undefined ? { namespace } : {}) });
