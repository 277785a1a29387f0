// The fake API server's storage: objects by resource, one cluster-wide
// resourceVersion counter (as etcd's revision), a bounded event history for
// watches that resume from a resourceVersion, compaction (older
// resourceVersions then answer 410 Gone), and watchers filtered by namespace,
// label and field selectors, which see an object leave their selection as
// DELETED and enter it as ADDED, as the real watch cache does.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { ApiError } from './errors.js';
import { RESOURCE_BY_KEY, type ResourceDef } from './resources.js';
import type { FieldMatcher, Matcher } from './selectors.js';

export interface ObjectMeta {
  name: string;
  namespace?: string | undefined;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  generateName?: string;
  finalizers?: string[];
  [key: string]: unknown;
}

/** Any stored object; fields past metadata are plain JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the rest is plain JSON that tests and handlers read freely
  [key: string]: any;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  rv: number;
  resKey: string;
  type: WatchEventType;
  object: KubeObject;
  /** The object before a MODIFIED or DELETED. */
  old?: KubeObject;
}

export interface WatchFilter {
  namespace?: string | undefined;
  labels: Matcher;
  fields: FieldMatcher;
}

export interface WatchSink {
  event(type: WatchEventType | 'ERROR' | 'BOOKMARK', object: unknown): void;
}

const HISTORY_LIMIT = 10_000;
const objKey = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;
const clone = <T>(v: T): T => structuredClone(v);

export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class Store extends EventEmitter {
  #rv = 1000;
  #compactedRv = 0;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  #history: ChangeEvent[] = [];
  readonly #watchers = new Set<{ resKey: string; filter: WatchFilter; sink: WatchSink }>();

  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** The oldest resourceVersion a watch may resume from. */
  get compactedResourceVersion(): number {
    return this.#compactedRv;
  }

  #collection(resKey: string): Map<string, KubeObject> {
    let c = this.#objects.get(resKey);
    if (!c) {
      if (!RESOURCE_BY_KEY.has(resKey)) throw new Error(`fake-kube store: unknown resource ${resKey}`);
      c = new Map();
      this.#objects.set(resKey, c);
    }
    return c;
  }

  #def(resKey: string): ResourceDef {
    return RESOURCE_BY_KEY.get(resKey)!;
  }

  get(resKey: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.#collection(resKey).get(objKey(namespace, name));
    return o && clone(o);
  }

  /** Like get, or a 404 ApiError. */
  mustGet(resKey: string, namespace: string | undefined, name: string): KubeObject {
    const o = this.get(resKey, namespace, name);
    if (!o) throw ApiError.notFound(this.#def(resKey).resource, name, this.#def(resKey).group);
    return o;
  }

  list(resKey: string, filter?: Partial<WatchFilter>): KubeObject[] {
    return [...this.#collection(resKey).values()]
      .filter((o) => this.#matches(o, { labels: () => true, fields: () => true, ...filter }))
      .sort((a, b) => objKey(a.metadata.namespace, a.metadata.name).localeCompare(objKey(b.metadata.namespace, b.metadata.name)))
      .map(clone);
  }

  #matches(o: KubeObject, f: WatchFilter): boolean {
    if (f.namespace !== undefined && o.metadata.namespace !== f.namespace) return false;
    return f.labels(o.metadata.labels ?? {}) && f.fields(o);
  }

  #commit(resKey: string, type: WatchEventType, object: KubeObject, old?: KubeObject): void {
    const ev: ChangeEvent = { rv: this.#rv, resKey, type, object: clone(object), ...(old ? { old: clone(old) } : {}) };
    this.#history.push(ev);
    if (this.#history.length > HISTORY_LIMIT) {
      const dropped = this.#history.splice(0, this.#history.length - HISTORY_LIMIT);
      this.#compactedRv = Math.max(this.#compactedRv, dropped[dropped.length - 1]!.rv);
    }
    for (const w of this.#watchers) if (w.resKey === resKey) this.#deliver(w, ev);
    this.emit('change', ev);
  }

  #deliver(w: { filter: WatchFilter; sink: WatchSink }, ev: ChangeEvent): void {
    const isNew = ev.type !== 'DELETED' && this.#matches(ev.object, w.filter);
    const wasOld = ev.type === 'DELETED' ? this.#matches(ev.object, w.filter) : ev.old !== undefined && this.#matches(ev.old, w.filter);
    let type: WatchEventType | undefined;
    if (ev.type === 'ADDED') type = isNew ? 'ADDED' : undefined;
    else if (ev.type === 'DELETED') type = wasOld ? 'DELETED' : undefined;
    else if (isNew && wasOld) type = 'MODIFIED';
    else if (isNew) type = 'ADDED';
    else if (wasOld) type = 'DELETED';
    if (type) w.sink.event(type, clone(ev.object));
  }

  /** Adds a new object: uid, resourceVersion, creationTimestamp (and generation) are set here. */
  create(resKey: string, input: KubeObject): KubeObject {
    const def = this.#def(resKey);
    const obj = clone(input);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().replace(/-/g, '').slice(0, 5)}`;
    if (!meta.name) throw ApiError.invalid(def.kind, '', [{ field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    if (def.namespaced && !meta.namespace) throw ApiError.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    if (!def.namespaced) delete meta.namespace;
    const c = this.#collection(resKey);
    const key = objKey(meta.namespace, meta.name);
    if (c.has(key)) throw ApiError.alreadyExists(def.resource, meta.name, def.group);
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    meta.resourceVersion = String(++this.#rv);
    if (def.generation) meta.generation = 1;
    delete meta.deletionTimestamp;
    c.set(key, obj);
    this.#commit(resKey, 'ADDED', obj);
    return clone(obj);
  }

  /**
   * Replaces an object. With `expectedRv`, a stored object of another
   * resourceVersion is a 409 Conflict. An update that changes nothing keeps
   * the resourceVersion and sends no event, as the real server does.
   */
  update(resKey: string, input: KubeObject, expectedRv?: string): KubeObject {
    const def = this.#def(resKey);
    const c = this.#collection(resKey);
    const meta = input.metadata;
    const key = objKey(def.namespaced ? meta.namespace : undefined, meta.name);
    const old = c.get(key);
    if (!old) throw ApiError.notFound(def.resource, meta.name, def.group);
    if (expectedRv !== undefined && expectedRv !== '' && expectedRv !== old.metadata.resourceVersion)
      throw ApiError.conflict(def.resource, meta.name, def.group);
    const obj = clone(input);
    // Fields the client may not change.
    obj.metadata.uid = old.metadata.uid;
    obj.metadata.creationTimestamp = old.metadata.creationTimestamp;
    obj.metadata.resourceVersion = old.metadata.resourceVersion;
    if (!def.namespaced) delete obj.metadata.namespace;
    if (old.metadata.deletionTimestamp) obj.metadata.deletionTimestamp = old.metadata.deletionTimestamp;
    if (def.generation) obj.metadata.generation = old.metadata.generation ?? 1;
    if (def.generation && !isDeepStrictEqual(obj.spec, old.spec)) obj.metadata.generation = (old.metadata.generation ?? 1) + 1;
    if (isDeepStrictEqual(obj, old)) return clone(old);
    obj.metadata.resourceVersion = String(++this.#rv);
    c.set(key, obj);
    this.#commit(resKey, 'MODIFIED', obj, old);
    return clone(obj);
  }

  /** Removes an object now (finalizers are not modelled). */
  remove(resKey: string, namespace: string | undefined, name: string): KubeObject {
    const def = this.#def(resKey);
    const c = this.#collection(resKey);
    const key = objKey(def.namespaced ? namespace : undefined, name);
    const old = c.get(key);
    if (!old) throw ApiError.notFound(def.resource, name, def.group);
    c.delete(key);
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.#rv);
    this.#commit(resKey, 'DELETED', gone, old);
    return gone;
  }

  /**
   * Starts a watch. resourceVersion "" or "0": ADDED for every current object,
   * then changes. A resourceVersion: the changes after it; one older than the
   * compacted history throws 410 Expired.
   */
  watch(resKey: string, filter: WatchFilter, resourceVersion: string | undefined, sink: WatchSink): () => void {
    this.#collection(resKey);
    const w = { resKey, filter, sink };
    if (!resourceVersion || resourceVersion === '0') {
      for (const o of this.list(resKey, filter)) sink.event('ADDED', o);
    } else {
      const from = Number(resourceVersion);
      if (!Number.isInteger(from) || from < 0) throw ApiError.badRequest(`invalid resource version ${JSON.stringify(resourceVersion)}`);
      // The server sends this as one ERROR event and ends the stream.
      if (from < this.#compactedRv) throw ApiError.gone(`too old resource version: ${from} (${this.#compactedRv})`);
      for (const ev of this.#history) if (ev.resKey === resKey && ev.rv > from) this.#deliver(w, ev);
    }
    this.#watchers.add(w);
    return () => this.#watchers.delete(w);
  }

  /** Forgets the event history: every resourceVersion before now is too old to watch from (410). */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
  }

  get watcherCount(): number {
    return this.#watchers.size;
  }
}
