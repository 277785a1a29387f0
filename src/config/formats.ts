// The value formats of coredns-healthd's settings: what each accepts in the
// JSON file, how an environment variable or flag string becomes a value, how
// a value is checked (the error says what is wrong and what would be right),
// and the canonical form the daemon sees. Registered with convict by name.
import type { Format } from './format.js';
import {
  boolean,
  count,
  countOrZero,
  attempts,
  dnsPort,
  ratio,
  factor,
  logLevel,
  remedyMode,
  healthOverride,
  path,
  optionalPath,
  duration,
  durationOrZero,
  probeTimeout,
} from './format-scalars.js';
import { listenAddress, serverList, ipList } from './format-network.js';
import { k8sNamespace, k8sName, nodeName, objectRef, quantity } from './format-kube.js';
import { dnsName, transports, queries } from './format-dns.js';

/** Every format, as the schema names them (F.duration, F.queries, ...). */
export const F = {
  boolean,
  count,
  countOrZero,
  attempts,
  dnsPort,
  ratio,
  factor,
  logLevel,
  remedyMode,
  healthOverride,
  path,
  optionalPath,
  duration,
  durationOrZero,
  probeTimeout,
  listenAddress,
  serverList,
  ipList,
  k8sNamespace,
  k8sName,
  nodeName,
  objectRef,
  quantity,
  dnsName,
  transports,
  queries,
} as const;

/** Every format, by name (registered with convict). */
export const FORMATS: ReadonlyMap<string, Format<unknown>> = new Map(Object.values(F).map((f) => [f.name, f as Format<unknown>]));
