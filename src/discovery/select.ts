// Narrowing the vantage list to some pods or containers (check/netns
// --pod and --container). The host vantage is never filtered out here:
// --no-host does that.
import type { Vantage } from '../model.js';

export interface VantageSelector {
  /** "NAMESPACE/NAME" of pods. */
  pods: readonly string[];
  /** Container names, or IDs (a prefix of at least 12 hex digits). */
  containers: readonly string[];
}

export const selectsAll = (s: VantageSelector): boolean => s.pods.length === 0 && s.containers.length === 0;

function matchesContainer(v: Vantage, c: string): boolean {
  if (v.containerNames.includes(c)) return true;
  return /^[0-9a-f]{12,64}$/.test(c) && v.containerIds.some((id) => id.startsWith(c));
}

export function selectVantages(vantages: readonly Vantage[], s: VantageSelector): Vantage[] {
  if (selectsAll(s)) return [...vantages];
  return vantages.filter((v) => v.hostNetwork || s.pods.includes(`${v.podNamespace}/${v.podName}`) || s.containers.some((c) => matchesContainer(v, c)));
}
