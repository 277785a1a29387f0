// Enough of the RBAC authorizer to hold an identity to a set of PolicyRules
// (e.g. the ClusterRole and Role in packaging/kubernetes/rbac.yaml): apiGroups,
// resources and "resource/subresource", verbs, resourceNames, and rules that
// apply in one namespace only (a Role bound by a RoleBinding). A list or watch
// with fieldSelector=metadata.name=<x> is authorized as a request for <x>, as
// the real authorizer does.
import type { RequestAttributes } from './faults.js';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Grant {
  rules: PolicyRule[];
  /** The rules apply only in this namespace (a Role); absent: everywhere (a ClusterRole). */
  namespace?: string;
}

const has = (list: readonly string[] | undefined, v: string): boolean => !!list && (list.includes('*') || list.includes(v));

export function allows(grants: readonly Grant[], a: Pick<RequestAttributes, 'verb' | 'group' | 'resource' | 'subresource' | 'namespace' | 'name'>): boolean {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return grants.some(
    (g) =>
      (g.namespace === undefined || g.namespace === a.namespace) &&
      g.rules.some(
        (r) =>
          has(r.verbs, a.verb) &&
          has(r.apiGroups, a.group) &&
          has(r.resources, resource) &&
          (!r.resourceNames || r.resourceNames.length === 0 || (a.name !== undefined && r.resourceNames.includes(a.name))),
      ),
  );
}

/** Non-resource paths (discovery, /version) every authenticated user may read (system:discovery). */
export const isDiscoveryPath = (path: string): boolean =>
  path === '/version' ||
  path === '/api' ||
  path === '/apis' ||
  /^\/api\/v1\/?$/.test(path) ||
  /^\/apis\/[^/]+(\/[^/]+)?\/?$/.test(path) ||
  path.startsWith('/openapi');
