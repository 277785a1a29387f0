// Reads RBAC manifests (packaging/kubernetes/rbac.yaml) into the grants the
// fake API server enforces for one subject: the rules of every ClusterRole
// bound by a ClusterRoleBinding (everywhere) and every Role bound by a
// RoleBinding (in its namespace).
import { readFile } from 'node:fs/promises';
import { loadAllYaml } from '@kubernetes/client-node';
import type { Grant, PolicyRule } from './rbac.js';

interface Doc {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

export interface Subject {
  kind: 'ServiceAccount' | 'User' | 'Group';
  name: string;
  namespace?: string;
}

/** The Kubernetes user name of a subject ("system:serviceaccount:<ns>:<name>" for a ServiceAccount). */
export const userOf = (s: Subject): string => (s.kind === 'ServiceAccount' ? `system:serviceaccount:${s.namespace}:${s.name}` : s.name);

export async function grantsFromManifest(path: string, subject: Subject): Promise<Grant[]> {
  const docs = (loadAllYaml(await readFile(path, 'utf8')) as Doc[]).filter((d) => d && typeof d === 'object');
  const role = (kind: string, name: string, namespace?: string): Doc | undefined =>
    docs.find((d) => d.kind === kind && d.metadata?.name === name && (kind === 'ClusterRole' || d.metadata?.namespace === namespace));
  const bound = (b: Doc): boolean =>
    (b.subjects ?? []).some(
      (s) => s.kind === subject.kind && s.name === subject.name && (subject.kind !== 'ServiceAccount' || s.namespace === subject.namespace),
    );
  const grants: Grant[] = [];
  for (const b of docs) {
    if (!bound(b) || !b.roleRef) continue;
    if (b.kind === 'ClusterRoleBinding') {
      const r = role('ClusterRole', b.roleRef.name);
      if (!r) throw new Error(`${path}: ClusterRoleBinding ${b.metadata?.name} refers to a missing ClusterRole ${b.roleRef.name}`);
      grants.push({ rules: r.rules ?? [] });
    } else if (b.kind === 'RoleBinding') {
      const ns = b.metadata?.namespace;
      const r = b.roleRef.kind === 'ClusterRole' ? role('ClusterRole', b.roleRef.name) : role('Role', b.roleRef.name, ns);
      if (!r) throw new Error(`${path}: RoleBinding ${ns}/${b.metadata?.name} refers to a missing ${b.roleRef.kind} ${b.roleRef.name}`);
      grants.push({ rules: r.rules ?? [], ...(ns ? { namespace: ns } : {}) });
    }
  }
  return grants;
}
