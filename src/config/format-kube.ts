// Formats of Kubernetes names, object references (namespace/name) and resource quantities.
import { type Format, fail } from './format.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const isSubdomain = (s: string): boolean => s.length <= 253 && s.split('.').every((l) => DNS1123_LABEL.test(l));
const LABEL_RULE = 'lower-case letters, digits and "-", at most 63 characters';

export const k8sNamespace: Format<string> = {
  name: 'k8s-namespace',
  doc: `a Kubernetes namespace name (${LABEL_RULE})`,
  json: ['string'],
  validate: (v) => {
    if (typeof v !== 'string' || !DNS1123_LABEL.test(v)) fail(`must be a Kubernetes namespace name (${LABEL_RULE})`);
  },
};

function k8sNameFormat(name: string, allowEmpty: boolean, doc: string): Format<string> {
  return {
    name,
    doc,
    json: ['string'],
    validate: (v) => {
      if (allowEmpty && v === '') return;
      if (typeof v !== 'string' || !isSubdomain(v)) fail(`must be a Kubernetes object name (dot-separated labels of ${LABEL_RULE})`);
    },
  };
}

export const k8sName = k8sNameFormat('k8s-name', false, 'a Kubernetes object name, e.g. "coredns-healthd-remedy"');
export const nodeName = k8sNameFormat('node-name', true, 'a Kubernetes node name, or "" for this machine\'s host name');

/** "kube-system/kube-dns" → { namespace, name }, or null. */
export function parseObjectRef(text: string): { namespace: string; name: string } | null {
  const parts = text.split('/');
  if (parts.length !== 2 || !DNS1123_LABEL.test(parts[0]!) || !isSubdomain(parts[1]!)) return null;
  return { namespace: parts[0]!, name: parts[1]! };
}

export const objectRef: Format<string> = {
  name: 'object-ref',
  doc: 'a Kubernetes object as "namespace/name", e.g. "kube-system/kube-dns"',
  json: ['string'],
  validate: (v) => {
    if (typeof v !== 'string' || parseObjectRef(v) === null) fail('must be "namespace/name" of Kubernetes names, e.g. "kube-system/kube-dns"');
  },
};

const QUANTITY = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
const QUANTITY_SCALE: Readonly<Record<string, number>> = {
  '': 1,
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

/** A Kubernetes memory quantity ("170Mi", "1Gi", "500M", "1048576") in bytes, or null. */
export function parseQuantity(text: string): number | null {
  const m = QUANTITY.exec(text);
  return m ? Number(m[1]) * QUANTITY_SCALE[m[2] ?? '']! : null;
}

export const quantity: Format<string> = {
  name: 'quantity',
  doc: 'a Kubernetes memory quantity such as "170Mi", "1Gi" or "500M"',
  json: ['string'],
  validate: (v) => {
    const bytes = typeof v === 'string' ? parseQuantity(v) : null;
    if (bytes === null || bytes <= 0) fail('must be a Kubernetes quantity greater than zero, such as "170Mi" or "1Gi"');
  },
};
