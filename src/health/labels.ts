// How targets and pods are named in metrics labels, logs and /status. A
// vantage's label is computed once per sweep by the sweep itself
// (discovery/vantage.ts vantageLabels, carried as VantageReport.label).
import type { Target, Vantage } from '../model.js';
import { MAX_FIELD, capString } from '../text/untrusted.js';

/** "10.96.0.10:53", "[fd00::10]:53". */
export const targetLabel = (t: Pick<Target, 'server' | 'port'>): string => (t.server.includes(':') ? `[${t.server}]:${t.port}` : `${t.server}:${t.port}`);

/** The pod a vantage belongs to, for logs and /status: "namespace/name", else its UID, else undefined. */
export function podOf(v: Vantage): string | undefined {
  if (v.hostNetwork) return undefined;
  if (v.podNamespace && v.podName) return capString(`${v.podNamespace}/${v.podName}`, MAX_FIELD);
  return v.podUid === undefined ? undefined : capString(v.podUid, MAX_FIELD);
}
