// The three patch formats the API server accepts on PATCH, applied to plain
// JSON objects: JSON Patch (RFC 6902, with "test"), JSON Merge Patch
// (RFC 7386), and Kubernetes' strategic merge patch (lists of objects merged
// by their merge key, `$patch` directives, `$setElementOrder` ignored).
import { isDeepStrictEqual } from 'node:util';
import { ApiError } from './errors.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

// ---------------------------------------------------------------- JSON Patch

/** RFC 6901: "/a/b~1c/0" → ["a", "b/c", "0"]. */
function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw ApiError.badRequest(`json patch: path ${JSON.stringify(path)} must start with "/"`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, parts: string[], path: string): { parent: JsonObject | Json[]; key: string } {
  let node: Json = doc;
  for (const part of parts.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(part)] as Json;
    else if (isObject(node)) node = node[part] as Json;
    else node = undefined as unknown as Json;
    if (node === undefined || node === null || typeof node !== 'object') throw ApiError.unprocessable(`jsonpatch: doc is missing path: ${path}: missing value`);
  }
  return { parent: node as JsonObject | Json[], key: parts[parts.length - 1]! };
}

function getAt(doc: Json, path: string): Json | undefined {
  let node: Json | undefined = doc;
  for (const part of pointer(path)) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (isObject(node)) node = Object.hasOwn(node, part) ? node[part] : undefined;
    else return undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

function arrayIndex(arr: Json[], key: string, forAdd: boolean, path: string): number {
  if (forAdd && key === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw ApiError.unprocessable(`jsonpatch: invalid array index ${JSON.stringify(key)} in ${path}`);
  const i = Number(key);
  if (i > arr.length || (!forAdd && i === arr.length)) throw ApiError.unprocessable(`jsonpatch: index ${i} out of bounds in ${path}`);
  return i;
}

function addAt(doc: Json, path: string, value: Json): Json {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true, path), 0, clone(value));
  else parent[key] = clone(value);
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const parts = pointer(path);
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false, path), 1);
  else {
    if (!Object.hasOwn(parent, key)) throw ApiError.unprocessable(`jsonpatch remove operation does not apply: doc is missing path: ${path}`);
    delete parent[key];
  }
  return doc;
}

export interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

export function applyJsonPatch(target: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw ApiError.badRequest('json patch: the body must be a JSON array of operations');
  let doc = clone(target);
  for (const raw of ops as JsonPatchOp[]) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw ApiError.badRequest('json patch: every operation needs "op" and "path"');
    const { op, path } = raw;
    switch (op) {
      case 'add':
        doc = addAt(doc, path, raw.value as Json);
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        if (getAt(doc, path) === undefined)
          throw ApiError.unprocessable(`jsonpatch replace operation does not apply: doc is missing key: ${path}: missing value`);
        doc = removeAt(doc, path);
        doc = addAt(doc, path, raw.value as Json);
        break;
      case 'move': {
        const value = getAt(doc, raw.from ?? '');
        if (value === undefined) throw ApiError.unprocessable(`jsonpatch move operation does not apply: doc is missing from path: ${raw.from}`);
        doc = removeAt(doc, raw.from!);
        doc = addAt(doc, path, value);
        break;
      }
      case 'copy': {
        const value = getAt(doc, raw.from ?? '');
        if (value === undefined) throw ApiError.unprocessable(`jsonpatch copy operation does not apply: doc is missing from path: ${raw.from}`);
        doc = addAt(doc, path, value);
        break;
      }
      case 'test':
        // The API server answers a failed test with 422 and a generic message (the cause is not told).
        if (!isDeepStrictEqual(getAt(doc, path) ?? null, raw.value ?? null))
          throw ApiError.unprocessable('the server rejected our request due to an error in our request');
        break;
      default:
        throw ApiError.badRequest(`json patch: unknown operation ${JSON.stringify(op)}`);
    }
  }
  return doc;
}

// ---------------------------------------------------------- JSON Merge Patch

export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k] ?? null, v);
  }
  return out;
}

// ------------------------------------------------------ strategic merge patch

/**
 * patchMergeKey of the lists this fake's resources hold, by field name (the
 * real server looks them up by Go type; the names do not collide for the
 * kinds served here, except ports, see below).
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  conditions: 'type',
  ownerReferences: 'uid',
  containerStatuses: 'name',
  hostAliases: 'ip',
  addresses: 'type',
};
/** Primitive lists whose strategy is "merge" (union) rather than replace. */
const MERGE_PRIMITIVE_LISTS = new Set(['finalizers']);

function portsKey(list: Json[]): string {
  // Service ports merge by "port", container ports by "containerPort".
  return list.some((p) => isObject(p) && 'containerPort' in p) ? 'containerPort' : 'port';
}

function mergeList(field: string, target: Json[] | undefined, patch: Json[]): Json[] {
  const current = target ?? [];
  if (MERGE_PRIMITIVE_LISTS.has(field)) return [...current, ...patch.filter((p) => !current.some((c) => isDeepStrictEqual(c, p)))];
  const key = field === 'ports' ? portsKey([...current, ...patch]) : MERGE_KEYS[field];
  if (!key) return clone(patch.filter((p) => !(isObject(p) && '$patch' in p)));
  const out = clone(current);
  for (const item of patch) {
    if (!isObject(item)) throw ApiError.badRequest(`strategic merge patch: ${field} items must be objects with ${key}`);
    if (item.$patch === 'replace') return clone(patch.filter((p) => p !== item));
    const id = item[key];
    const i = out.findIndex((o) => isObject(o) && isDeepStrictEqual(o[key], id));
    if (item.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = applyStrategicMerge(out[i]!, item);
    else out.push(applyStrategicMerge({}, item));
  }
  return out;
}

export function applyStrategicMerge(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'delete') return null;
  const base: JsonObject = patch.$patch === 'replace' ? {} : isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/') || k.startsWith('$deleteFromPrimitiveList/')) continue;
    if (v === null) delete base[k];
    else if (Array.isArray(v)) base[k] = mergeList(k, Array.isArray(base[k]) ? base[k] : undefined, v);
    else if (isObject(v)) {
      const merged = applyStrategicMerge(base[k] ?? null, v);
      if (merged === null) delete base[k];
      else base[k] = merged;
    } else base[k] = v;
  }
  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith('$deleteFromPrimitiveList/') || !Array.isArray(v)) continue;
    const field = k.slice('$deleteFromPrimitiveList/'.length);
    if (Array.isArray(base[field])) base[field] = base[field].filter((x) => !v.some((d) => isDeepStrictEqual(d, x)));
  }
  if (Array.isArray(patch.$retainKeys)) {
    for (const k of Object.keys(base)) if (!patch.$retainKeys.includes(k)) delete base[k];
  }
  return base;
}

/** Applies a PATCH body of the given Content-Type (parameters ignored) to `target`. */
export function applyPatch(contentType: string, target: Json, body: string): Json {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  let parsed: Json;
  try {
    parsed = JSON.parse(body) as Json;
  } catch (err) {
    throw ApiError.badRequest(`error decoding patch: ${(err as Error).message}`);
  }
  switch (type) {
    case PATCH_TYPES.json:
      return applyJsonPatch(target, parsed);
    case PATCH_TYPES.merge:
      if (!isObject(parsed)) throw ApiError.badRequest('merge patch: the body must be a JSON object');
      return applyMergePatch(target, parsed);
    case PATCH_TYPES.strategic:
      if (!isObject(parsed)) throw ApiError.badRequest('strategic merge patch: the body must be a JSON object');
      return applyStrategicMerge(target, parsed);
    default:
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${Object.values(PATCH_TYPES).join(', ')}`,
      );
  }
}
