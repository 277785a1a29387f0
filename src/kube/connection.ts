// Where the Kubernetes credentials come from, in order: the configured
// kubeconfig path (kubernetes.kubeconfig, the original tool's -path), then
// $KUBECONFIG (a list of files, merged as kubectl does), then the in-cluster
// service account. None of them is a supported mode: probing goes on,
// remedies are off. ~/.kube/config is deliberately not read: a node's root
// account may hold cluster-admin credentials the daemon must not pick up.
//
// Every auth method of @kubernetes/client-node works (token, client
// certificate, exec plugin, auth providers): the kubeconfig is handed to it.
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeLib } from './lib.js';

export type KubeSource = 'kubeconfig' | 'env' | 'in-cluster' | 'none';

export interface KubeConnectionInfo {
  source: KubeSource;
  /** Files read (kubeconfig or $KUBECONFIG). */
  paths: string[];
  /** The API server URL, user and context in use. */
  server?: string;
  user?: string;
  context?: string;
  /** For "none": why there is no connection. */
  detail?: string;
}

export interface ResolveOptions {
  /** Config `kubernetes.kubeconfig`; "" to fall through. */
  kubeconfig: string;
  env?: NodeJS.ProcessEnv;
  /** Prefix of /var/run/secrets/kubernetes.io/serviceaccount (tests). */
  inClusterRoot?: string;
}

/** A kubeconfig that could not be used; the message names the file and the problem. */
export class KubeConfigError extends Error {
  readonly path: string;
  constructor(path: string, message: string, cause?: unknown) {
    super(`kubeconfig ${path}: ${message}`, cause !== undefined ? { cause } : undefined);
    this.name = 'KubeConfigError';
    this.path = path;
  }
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The client library's configuration behind each connection: kept out of the class so no library type shows. */
const KUBE_CONFIGS = new WeakMap<KubeConnection, KubeConfig>();

/** The loaded credentials: what they are (info) and whether there are any. */
export class KubeConnection {
  readonly info: KubeConnectionInfo;

  constructor(info: KubeConnectionInfo, kubeConfig?: KubeConfig) {
    this.info = info;
    if (kubeConfig) KUBE_CONFIGS.set(this, kubeConfig);
  }

  get connected(): boolean {
    return KUBE_CONFIGS.has(this);
  }
}

/** For src/kube/client.ts: the client library's configuration of a connection, if it has credentials. */
export const kubeConfigOf = (c: KubeConnection): KubeConfig | undefined => KUBE_CONFIGS.get(c);

function loadFile(path: string, into?: KubeConfig): KubeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KubeConfigError(path, code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message, err);
  }
  const kc = new (kubeLib().KubeConfig)();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new KubeConfigError(path, `not a valid kubeconfig: ${(err as Error).message}`, err);
  }
  // Relative certificate and key paths are relative to the file, as kubectl reads them.
  kc.makePathsAbsolute(join(path, '..'));
  if (into) {
    // kubectl's merge: the first file to define a name (or the current context) wins.
    if (!into.currentContext && kc.currentContext) into.setCurrentContext(kc.currentContext);
    for (const c of kc.clusters) if (!into.getCluster(c.name)) into.addCluster(c);
    for (const u of kc.users) if (!into.getUser(u.name)) into.addUser(u);
    for (const x of kc.contexts) if (!into.getContextObject(x.name)) into.addContext(x);
    return into;
  }
  return kc;
}

function describe(kc: KubeConfig, source: KubeSource, paths: string[], label: string): KubeConnectionInfo {
  const contextName = kc.getCurrentContext();
  if (!contextName) throw new KubeConfigError(label, 'has no current-context');
  if (!kc.getContextObject(contextName)) throw new KubeConfigError(label, `current-context ${JSON.stringify(contextName)} is not defined in contexts`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeConfigError(label, `the cluster of context ${JSON.stringify(contextName)} is not defined in clusters`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new KubeConfigError(label, `cluster ${JSON.stringify(cluster.name)} has no valid server URL (${JSON.stringify(cluster.server)})`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new KubeConfigError(label, `cluster ${JSON.stringify(cluster.name)} server must be an https:// URL, got ${cluster.server}`);
  const user = kc.getCurrentUser();
  return { source, paths, server: cluster.server, context: contextName, ...(user ? { user: user.name } : {}) };
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds and loads the credentials. A configured or $KUBECONFIG file that is
 * missing or invalid is an error (KubeConfigError); no credentials at all is
 * a connection with source "none".
 */
export function resolveKubeConnection(opts: ResolveOptions): KubeConnection {
  const env = opts.env ?? process.env;
  if (opts.kubeconfig) {
    const kc = loadFile(opts.kubeconfig);
    return new KubeConnection(describe(kc, 'kubeconfig', [opts.kubeconfig], opts.kubeconfig), kc);
  }
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '');
  if (list.length > 0) {
    // As kubectl: the first file that sets a value wins; missing files in the list are skipped, but not all of them.
    const present = list.filter((p) => readable(p));
    if (present.length === 0) throw new KubeConfigError(list.join(delimiter), '$KUBECONFIG names no readable file');
    let kc: KubeConfig | undefined;
    for (const p of present) kc = kc ? loadFile(p, kc) : loadFile(p);
    return new KubeConnection(describe(kc!, 'env', present, `$KUBECONFIG (${present.join(delimiter)})`), kc);
  }
  const root = opts.inClusterRoot ?? '';
  const tokenFile = `${root}${SERVICE_ACCOUNT_DIR}/token`;
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && readable(tokenFile)) {
    const kc = new (kubeLib().KubeConfig)();
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    // loadFromCluster reads process.env; give it the environment this resolution was asked about.
    process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
    process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT;
    try {
      kc.loadFromCluster(root);
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
    const ca = `${root}${SERVICE_ACCOUNT_DIR}/ca.crt`;
    if (!readable(ca)) throw new KubeConfigError(ca, 'in-cluster configuration: the service account CA certificate is not readable');
    readFileSync(tokenFile); // fails now, with the path, rather than on the first request
    return new KubeConnection(describe(kc, 'in-cluster', [], 'in-cluster configuration'), kc);
  }
  return new KubeConnection({
    source: 'none',
    paths: [],
    detail: 'no kubernetes.kubeconfig, no $KUBECONFIG and no in-cluster service account: probing only, remedies off',
  });
}
