// Label selectors ("a=b,c!=d,e in (x,y),f notin (z),g,!h") and field
// selectors ("metadata.name=x,spec.nodeName!=y") as the API server reads
// them from ?labelSelector= and ?fieldSelector=, plus the structured
// LabelSelector of Deployments and PodDisruptionBudgets.
import { ApiError } from './errors.js';

export type Labels = Readonly<Record<string, string>>;
export type Matcher = (labels: Labels) => boolean;

interface Requirement {
  key: string;
  op: 'in' | 'notin' | 'exists' | '!exists' | '=' | '!=';
  values: string[];
}

function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

function parseRequirement(part: string): Requirement {
  let m = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
  if (m)
    return {
      key: m[1]!,
      op: m[2] as 'in' | 'notin',
      values: m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== ''),
    };
  m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(part);
  if (m) return { key: m[1]!, op: m[2] === '!=' ? '!=' : '=', values: [m[3]!] };
  m = /^!\s*([^\s!=(),]+)$/.exec(part);
  if (m) return { key: m[1]!, op: '!exists', values: [] };
  m = /^([^\s!=(),]+)$/.exec(part);
  if (m) return { key: m[1]!, op: 'exists', values: [] };
  throw ApiError.badRequest(`unable to parse requirement: ${JSON.stringify(part)}`);
}

function matches(r: Requirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case 'exists':
      return has;
    case '!exists':
      return !has;
    case '=':
    case 'in':
      return has && r.values.includes(v!);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(v!);
  }
}

export function parseLabelSelector(text: string | null | undefined): Matcher {
  if (!text) return () => true;
  const reqs = splitTopLevel(text).map(parseRequirement);
  return (labels) => reqs.every((r) => matches(r, labels));
}

export interface StructuredSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** metav1.LabelSelector; an empty selector matches everything, a missing one nothing (as for PDBs). */
export function structuredMatcher(sel: StructuredSelector | null | undefined): Matcher {
  if (!sel) return () => false;
  const reqs: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({ key, op: '=', values: [v] }));
  for (const e of sel.matchExpressions ?? []) {
    const op = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!exists' } as const)[e.operator as 'In'];
    if (!op) throw ApiError.badRequest(`unknown label selector operator ${e.operator}`);
    reqs.push({ key: e.key, op, values: e.values ?? [] });
  }
  return (labels) => reqs.every((r) => matches(r, labels));
}

export type FieldMatcher = (obj: Record<string, unknown>) => boolean;

function fieldValue(obj: Record<string, unknown>, path: string): string {
  let node: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return '';
    node = (node as Record<string, unknown>)[part];
  }
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- selectable fields are scalars, as in the API server
  return node === undefined || node === null ? '' : String(node);
}

/** Field selectors: exact (in)equality on a dotted path; an absent field is "". */
export function parseFieldSelector(text: string | null | undefined): FieldMatcher {
  if (!text) return () => true;
  const reqs = text.split(',').map((part) => {
    const m = /^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/.exec(part.trim());
    if (!m) throw ApiError.badRequest(`invalid field selector: ${JSON.stringify(part)}`);
    return { path: m[1]!, negate: m[2] === '!=', value: m[3]! };
  });
  return (obj) => reqs.every((r) => (fieldValue(obj, r.path) === r.value) !== r.negate);
}
