// Server-side printing: kubectl asks for `as=Table` and prints the columns the
// server chose (NAMESPACE comes from each row's object metadata with -A).
import type { KubeObject } from './store.js';

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
}

function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const col = (name: string, type: string, priority = 0, format?: string): Column => ({ name, type, description: name, priority, ...(format ? { format } : {}) });

function podRow(p: KubeObject): unknown[] {
  const statuses: { ready?: boolean; restartCount?: number }[] = p.status?.containerStatuses ?? [];
  const containers = p.spec?.containers?.length ?? 0;
  const ready = statuses.filter((c) => c.ready).length;
  const restarts = statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0);
  const status = p.metadata.deletionTimestamp ? 'Terminating' : (p.status?.phase ?? 'Unknown');
  return [
    p.metadata.name,
    `${ready}/${containers}`,
    status,
    String(restarts),
    age(p.metadata.creationTimestamp),
    p.status?.podIP ?? '<none>',
    p.spec?.nodeName ?? '<none>',
    '<none>',
    '<none>',
  ];
}

function deploymentRow(d: KubeObject): unknown[] {
  const s = d.status ?? {};
  const containers: { name: string; image: string }[] = d.spec?.template?.spec?.containers ?? [];
  const selector = Object.entries(d.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
  return [
    d.metadata.name,
    `${s.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
    s.updatedReplicas ?? 0,
    s.availableReplicas ?? 0,
    age(d.metadata.creationTimestamp),
    containers.map((c) => c.name).join(','),
    containers.map((c) => c.image).join(','),
    selector,
  ];
}

function serviceRow(s: KubeObject): unknown[] {
  const ports = (s.spec?.ports ?? []).map((p: { port: number; protocol?: string }) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',');
  const selector = Object.entries(s.spec?.selector ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
  return [
    s.metadata.name,
    s.spec?.type ?? 'ClusterIP',
    s.spec?.clusterIP ?? '<none>',
    '<none>',
    ports || '<none>',
    age(s.metadata.creationTimestamp),
    selector || '<none>',
  ];
}

function nodeRow(n: KubeObject): unknown[] {
  const ready = (n.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady';
  const status = n.spec?.unschedulable ? `${ready},SchedulingDisabled` : ready;
  return [n.metadata.name, status, '<none>', age(n.metadata.creationTimestamp), n.status?.nodeInfo?.kubeletVersion ?? ''];
}

const TABLES: Readonly<Record<string, { columns: Column[]; row: (o: KubeObject) => unknown[] }>> = {
  '/pods': {
    columns: [
      col('Name', 'string', 0, 'name'),
      col('Ready', 'string'),
      col('Status', 'string'),
      col('Restarts', 'string'),
      col('Age', 'string'),
      col('IP', 'string', 1),
      col('Node', 'string', 1),
      col('Nominated Node', 'string', 1),
      col('Readiness Gates', 'string', 1),
    ],
    row: podRow,
  },
  'apps/deployments': {
    columns: [
      col('Name', 'string', 0, 'name'),
      col('Ready', 'string'),
      col('Up-to-date', 'integer'),
      col('Available', 'integer'),
      col('Age', 'string'),
      col('Containers', 'string', 1),
      col('Images', 'string', 1),
      col('Selector', 'string', 1),
    ],
    row: deploymentRow,
  },
  '/services': {
    columns: [
      col('Name', 'string', 0, 'name'),
      col('Type', 'string'),
      col('Cluster-IP', 'string'),
      col('External-IP', 'string'),
      col('Port(s)', 'string'),
      col('Age', 'string'),
      col('Selector', 'string', 1),
    ],
    row: serviceRow,
  },
  '/nodes': {
    columns: [col('Name', 'string', 0, 'name'), col('Status', 'string'), col('Roles', 'string'), col('Age', 'string'), col('Version', 'string')],
    row: nodeRow,
  },
};

export const wantsTable = (accept: string | undefined): boolean => !!accept && /as=Table/.test(accept);

export function toTable(resKey: string, items: KubeObject[], resourceVersion: string): unknown {
  const t = TABLES[resKey] ?? {
    columns: [col('Name', 'string', 0, 'name'), col('Age', 'string')],
    row: (o: KubeObject) => [o.metadata.name, age(o.metadata.creationTimestamp)],
  };
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: t.columns,
    rows: items.map((o) => ({ cells: t.row(o), object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } })),
  };
}
