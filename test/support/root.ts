// Tests that need root skip with a reason when run as a normal user, but CI runs as root
// and must never skip them silently: there a missing root fails the test.

/** The part of a tap Test that requireRoot uses. */
export interface RootGate {
  plan(n: number, comment?: string): void;
  fail(message: string): unknown;
}

export type RootDecision = { action: 'run' } | { action: 'skip'; message: string } | { action: 'fail'; message: string };

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** True when the CI variable is set to anything but an explicit "false" or "0". */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/** Pure decision: run the test, skip it, or fail it. */
export function decideRoot(root: boolean, ci: boolean, why: string): RootDecision {
  if (!why.trim()) throw new Error('requireRoot: why must say what the test needs root for');
  if (root) return { action: 'run' };
  const message = `needs root: ${why}`;
  if (ci) return { action: 'fail', message: `${message} (CI is set, so this test must not be skipped: run the tests as root)` };
  return { action: 'skip', message };
}

/**
 * Call first in a test that needs root. Returns true when the test may go on; otherwise the
 * test is already skipped (plan 0 with the reason) or, under CI, failed, and the caller
 * must return at once:
 *
 *   t.test('netns', async t => { if (!requireRoot(t, 'creates network namespaces')) return; ... })
 */
export function requireRoot(t: RootGate, why: string): boolean {
  const decision = decideRoot(isRoot(), isCI(), why);
  if (decision.action === 'run') return true;
  if (decision.action === 'fail') t.fail(decision.message);
  else t.plan(0, decision.message);
  return false;
}
