// A small cluster as kubeadm leaves it, as far as DNS goes: the default and
// kube-system namespaces, nodes, the default/kubernetes Service, the
// kube-system/kube-dns Service and the coredns Deployment behind it (with
// the kubeadm memory limit of 170Mi), and optionally a PodDisruptionBudget.
import type { Cluster, ContainerSeed } from './cluster.js';
import type { KubeObject } from './store.js';

export interface CoreDnsSeed {
  /** Node names and their InternalIPs. Default node-a 10.0.0.1, node-b 10.0.0.2. */
  nodes?: Record<string, string>;
  /** ClusterIP(s) of default/kubernetes. Default ["10.96.0.1"]. */
  kubernetesClusterIPs?: string[];
  /** ClusterIP(s) of the DNS Service. Default ["10.96.0.10"]. */
  dnsClusterIPs?: string[];
  dnsNamespace?: string;
  dnsServiceName?: string;
  /** Default 53. */
  dnsPort?: number;
  /** The DNS Service's selector and the CoreDNS pods' labels. Default {"k8s-app": "kube-dns"}. */
  labels?: Record<string, string>;
  deploymentName?: string;
  replicas?: number;
  podIps?: string[];
  podNodes?: string[];
  /** Default: limits memory 170Mi, requests cpu 100m and memory 70Mi. */
  resources?: ContainerSeed['resources'];
  /** Extra containers beside "coredns" (e.g. a sidecar listed first). */
  extraContainers?: ContainerSeed[];
  /** Containers listed before coredns. */
  containersFirst?: ContainerSeed[];
  /** A PodDisruptionBudget over the CoreDNS pods. */
  pdb?: { minAvailable?: number | string; maxUnavailable?: number | string };
}

export interface SeededCoreDns {
  namespace: string;
  serviceName: string;
  deploymentName: string;
  labels: Record<string, string>;
  deployment: KubeObject;
  nodes: string[];
}

export const KUBEADM_COREDNS_RESOURCES = { limits: { memory: '170Mi' }, requests: { cpu: '100m', memory: '70Mi' } };

export function seedCoreDns(cluster: Cluster, s: CoreDnsSeed = {}): SeededCoreDns {
  const namespace = s.dnsNamespace ?? 'kube-system';
  const serviceName = s.dnsServiceName ?? 'kube-dns';
  const deploymentName = s.deploymentName ?? 'coredns';
  const labels = s.labels ?? { 'k8s-app': 'kube-dns' };
  const nodes = s.nodes ?? { 'node-a': '10.0.0.1', 'node-b': '10.0.0.2' };
  const port = s.dnsPort ?? 53;
  const existing = new Set(cluster.store.list('/namespaces').map((n) => n.metadata.name));
  // coredns-healthd: the namespace of the verdict Leases (packaging/kubernetes/rbac.yaml creates it).
  for (const ns of ['default', 'kube-system', 'coredns-healthd', namespace]) {
    if (!existing.has(ns)) {
      cluster.addNamespace(ns);
      existing.add(ns);
    }
  }
  for (const [name, ip] of Object.entries(nodes)) if (!cluster.store.get('/nodes', undefined, name)) cluster.addNode(name, ip);
  if (!cluster.store.get('/services', 'default', 'kubernetes')) {
    cluster.addService({
      namespace: 'default',
      name: 'kubernetes',
      clusterIPs: s.kubernetesClusterIPs ?? ['10.96.0.1'],
      ports: [{ name: 'https', port: 443, targetPort: 6443 }],
      labels: { component: 'apiserver', provider: 'kubernetes' },
    });
  }
  cluster.addService({
    namespace,
    name: serviceName,
    selector: labels,
    clusterIPs: s.dnsClusterIPs ?? ['10.96.0.10'],
    ports: [
      { name: 'dns', port, protocol: 'UDP', targetPort: port },
      { name: 'dns-tcp', port, protocol: 'TCP', targetPort: port },
      { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
    ],
    labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' },
  });
  const coredns: ContainerSeed = {
    name: 'coredns',
    resources: s.resources ?? structuredClone(KUBEADM_COREDNS_RESOURCES),
    ports: [
      { name: 'dns', containerPort: port, protocol: 'UDP' },
      { name: 'dns-tcp', containerPort: port, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9153, protocol: 'TCP' },
    ],
  };
  const deployment = cluster.addDeployment({
    namespace,
    name: deploymentName,
    replicas: s.replicas ?? 2,
    labels,
    containers: [...(s.containersFirst ?? []), coredns, ...(s.extraContainers ?? [])],
    ...(s.podIps ? { podIps: s.podIps } : {}),
    ...(s.podNodes ? { nodeNames: s.podNodes } : {}),
  });
  if (s.pdb) cluster.addPdb({ namespace, name: `${deploymentName}-pdb`, selector: { matchLabels: labels }, ...s.pdb });
  return { namespace, serviceName, deploymentName, labels, deployment, nodes: Object.keys(nodes) };
}
