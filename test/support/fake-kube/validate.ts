// The parts of the API server's validation a client of these kinds can get
// wrong: MicroTime fields need exactly six fractional digits (a JavaScript
// Date's toISOString() has three and is refused), events.k8s.io/v1 Events
// need their reporting fields, quantities must parse and a memory request may
// not exceed its limit.
import { ApiError, type StatusCause } from './errors.js';
import type { KubeObject } from './store.js';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const QUANTITY = /^([+-]?\d+(\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const SCALE: Readonly<Record<string, number>> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function quantityValue(q: string): number | undefined {
  const m = QUANTITY.exec(q);
  if (!m) return undefined;
  const suffix = m[3] ?? '';
  const scale = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : SCALE[suffix]!;
  return Number(m[1]) * scale;
}

function microTime(causes: StatusCause[], field: string, v: unknown, required: boolean): void {
  if (v === undefined || v === null) {
    if (required) causes.push({ field, message: 'Required value' });
    return;
  }
  if (typeof v !== 'string' || !MICRO_TIME.test(v))
    causes.push({
      field,
      message: `Invalid value: ${JSON.stringify(v)}: must be a MicroTime (RFC 3339 with exactly 6 fractional digits, as 2006-01-02T15:04:05.000000Z07:00)`,
    });
}

function time(causes: StatusCause[], field: string, v: unknown): void {
  if (v !== undefined && v !== null && (typeof v !== 'string' || !TIME.test(v)))
    causes.push({ field, message: `Invalid value: ${JSON.stringify(v)}: must be an RFC 3339 time` });
}

function required(causes: StatusCause[], field: string, v: unknown, max = 128): void {
  if (typeof v !== 'string' || v === '') causes.push({ field, message: 'Required value' });
  else if (v.length > max) causes.push({ field, message: `Too long: may not be more than ${max} bytes` });
}

function podSpec(causes: StatusCause[], prefix: string, spec: KubeObject['spec']): void {
  const containers: { name?: string; resources?: { limits?: Record<string, string>; requests?: Record<string, string> } }[] = spec?.containers ?? [];
  const names = new Set<string>();
  containers.forEach((c, i) => {
    const f = `${prefix}.containers[${i}]`;
    if (!c.name) causes.push({ field: `${f}.name`, message: 'Required value' });
    else if (names.has(c.name)) causes.push({ field: `${f}.name`, message: `Duplicate value: ${JSON.stringify(c.name)}` });
    else names.add(c.name);
    for (const kind of ['limits', 'requests'] as const) {
      for (const [res, q] of Object.entries(c.resources?.[kind] ?? {})) {
        if (typeof q !== 'string' && typeof q !== 'number')
          causes.push({ field: `${f}.resources.${kind}[${res}]`, message: `Invalid value: ${JSON.stringify(q)}` });
        else if (quantityValue(String(q)) === undefined)
          causes.push({
            field: `${f}.resources.${kind}[${res}]`,
            message: `Invalid value: ${JSON.stringify(q)}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
          });
      }
    }
    for (const res of ['memory', 'cpu']) {
      const limit = c.resources?.limits?.[res];
      const request = c.resources?.requests?.[res];
      if (limit !== undefined && request !== undefined && quantityValue(String(request))! > quantityValue(String(limit))!) {
        causes.push({ field: `${f}.resources.requests`, message: `Invalid value: "${request}": must be less than or equal to ${res} limit of ${limit}` });
      }
    }
  });
}

/** Throws a 422 Invalid naming every bad field, as the API server does. */
export function validate(resKey: string, o: KubeObject): void {
  const causes: StatusCause[] = [];
  switch (resKey) {
    case 'coordination.k8s.io/leases': {
      microTime(causes, 'spec.acquireTime', o.spec?.acquireTime, false);
      microTime(causes, 'spec.renewTime', o.spec?.renewTime, false);
      const d = o.spec?.leaseDurationSeconds;
      if (d !== undefined && d !== null && (!Number.isInteger(d) || d <= 0))
        causes.push({ field: 'spec.leaseDurationSeconds', message: `Invalid value: ${d}: must be greater than 0` });
      break;
    }
    case 'events.k8s.io/events': {
      microTime(causes, 'eventTime', o.eventTime, true);
      required(causes, 'reportingController', o.reportingController);
      if (typeof o.reportingController === 'string' && !QUALIFIED_NAME.test(o.reportingController))
        causes.push({ field: 'reportingController', message: `Invalid value: ${JSON.stringify(o.reportingController)}: must be a qualified name` });
      required(causes, 'reportingInstance', o.reportingInstance);
      required(causes, 'action', o.action);
      required(causes, 'reason', o.reason);
      if (o.type !== 'Normal' && o.type !== 'Warning')
        causes.push({ field: 'type', message: `Unsupported value: ${JSON.stringify(o.type)}: supported values: "Normal", "Warning"` });
      if (typeof o.note === 'string' && Buffer.byteLength(o.note) > 1024) causes.push({ field: 'note', message: 'Too long: may not be more than 1024 bytes' });
      if (!o.regarding?.kind || !o.regarding?.name) causes.push({ field: 'regarding', message: 'Required value' });
      const ns = o.metadata.namespace;
      if (o.regarding?.namespace ? o.regarding.namespace !== ns : ns !== 'default' && o.regarding?.kind === 'Node') {
        causes.push({ field: 'metadata.namespace', message: `Invalid value: ${JSON.stringify(ns)}: does not match regarding.namespace` });
      }
      if (o.series) {
        microTime(causes, 'series.lastObservedTime', o.series.lastObservedTime, true);
        if (!(o.series.count >= 2)) causes.push({ field: 'series.count', message: 'Invalid value: should be at least 2' });
      }
      break;
    }
    case '/nodes':
      for (const [i, c] of (o.status?.conditions ?? []).entries()) {
        if (!c.type) causes.push({ field: `status.conditions[${i}].type`, message: 'Required value' });
        if (!['True', 'False', 'Unknown'].includes(c.status))
          causes.push({ field: `status.conditions[${i}].status`, message: `Unsupported value: ${JSON.stringify(c.status)}` });
        time(causes, `status.conditions[${i}].lastHeartbeatTime`, c.lastHeartbeatTime);
        time(causes, `status.conditions[${i}].lastTransitionTime`, c.lastTransitionTime);
      }
      break;
    case 'apps/deployments':
      podSpec(causes, 'spec.template.spec', o.spec?.template?.spec);
      for (const [k, v] of Object.entries(o.metadata.annotations ?? {}))
        if (typeof v !== 'string') causes.push({ field: `metadata.annotations[${k}]`, message: 'must be a string' });
      break;
    default:
      break;
  }
  for (const [k] of Object.entries(o.metadata.annotations ?? {}))
    if (!QUALIFIED_NAME.test(k))
      causes.push({
        field: 'metadata.annotations',
        message: `Invalid value: ${JSON.stringify(k)}: name part must consist of alphanumeric characters, '-', '_' or '.'`,
      });
  if (causes.length) throw ApiError.invalid(o.kind, o.metadata.name, causes);
}
