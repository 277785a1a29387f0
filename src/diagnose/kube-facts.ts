// What the diagnosis needs to know from Kubernetes, as plain data: the
// cluster DNS Service IPs and each pod's dnsPolicy. src/kube fills it in;
// without Kubernetes it is absent and the checks that need it are skipped.
import { KubeFacts, KubePod, type Vantage } from '../model.js';

/** The pod behind a vantage: by UID, else by namespace and name. The host vantage has none. */
export function podFor(v: Vantage, kube: KubeFacts | undefined): KubePod | undefined {
  if (!kube || v.hostNetwork) return undefined;
  if (v.podUid) {
    const byUid = kube.pods.find((p) => p.uid === v.podUid);
    if (byUid) return byUid;
  }
  if (v.podNamespace && v.podName) return kube.pods.find((p) => p.namespace === v.podNamespace && p.name === v.podName);
  return undefined;
}

/**
 * Whether the kubelet writes the cluster DNS into this pod's resolv.conf:
 * ClusterFirst, and ClusterFirstWithHostNet (which, for a pod that is not
 * hostNetwork, means the same).
 */
export const usesClusterDns = (pod: KubePod): boolean => pod.dnsPolicy === 'ClusterFirst' || pod.dnsPolicy === 'ClusterFirstWithHostNet';
