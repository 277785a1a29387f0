// The one place that loads @kubernetes/client-node, on first use. The
// library costs ~70 MB of heap and seconds of start-up; a node (or a `check`)
// that never talks to Kubernetes never loads it. Node 20.19+ loads this ES
// module synchronously through require(), so callers stay synchronous; type
// imports elsewhere cost nothing at run time.
import { createRequire } from 'node:module';

type KubeLib = typeof import('@kubernetes/client-node');

let lib: KubeLib | undefined;

export function kubeLib(): KubeLib {
  lib ??= createRequire(import.meta.url)('@kubernetes/client-node') as KubeLib;
  return lib;
}

/** Whether the library has been loaded in this process (tests). */
export const kubeLibLoaded = (): boolean => lib !== undefined;
