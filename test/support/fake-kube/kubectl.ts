// The real kubectl against the fake API server, for fidelity tests. Runs
// asynchronously: the fake lives in the test's own event loop.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tryRun, which, type RunResult } from '../run.js';

export interface Kubectl {
  (args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Removes the discovery cache directory. */
  cleanup(): Promise<void>;
}

export async function kubectlFor(kubeconfig: string): Promise<Kubectl> {
  const bin = which('kubectl', 'kubectl (pkgs.k8s.io apt repository)');
  const cache = await mkdtemp(join(tmpdir(), 'fake-kube-kubectl-'));
  const fn = ((args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}) =>
    tryRun(bin, ['--kubeconfig', kubeconfig, '--cache-dir', cache, '--request-timeout', '20s', ...args], {
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      timeoutMs: opts.timeoutMs ?? 60_000,
    })) as Kubectl;
  fn.cleanup = () => rm(cache, { recursive: true, force: true });
  return fn;
}
