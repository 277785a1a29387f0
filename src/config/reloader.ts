// Holds the running configuration. reload() (on SIGHUP) re-reads the same
// sources; a configuration that does not load leaves the last good one in
// place. The outcome of the last load feeds the
// coredns_healthd_config_last_reload_{successful,success_timestamp_seconds} metrics.
import { EventEmitter } from 'node:events';
import { ConfigError } from './errors.js';
import { loadConfigResult, type Config, type LoadOptions, type LoadResult } from './load.js';

export type ReloadResult = { ok: true; changed: boolean; at: Date; error?: undefined } | { ok: false; changed: false; at: Date; error: ConfigError };

export interface ConfigHolderEvents {
  /** A reload produced a different configuration. */
  change: [next: Config, previous: Config];
  /** Every reload, good or bad. */
  reload: [result: ReloadResult];
}

export interface ConfigHolderOptions extends LoadOptions {
  /** Replaces loadConfigResult (tests). */
  load?: (opts: LoadOptions) => LoadResult;
  now?: () => Date;
}

export class ConfigHolder extends EventEmitter<ConfigHolderEvents> {
  #current: LoadResult;
  #lastReload: { at: Date; ok: boolean };
  #lastSuccess: Date;
  readonly #options: LoadOptions;
  readonly #load: (opts: LoadOptions) => LoadResult;
  readonly #now: () => Date;

  /** Loads the configuration once; a ConfigError here is fatal to the caller (exit 2). */
  constructor(options: ConfigHolderOptions = {}) {
    super();
    const { load = loadConfigResult, now = () => new Date(), ...loadOptions } = options;
    this.#options = loadOptions;
    this.#load = load;
    this.#now = now;
    this.#current = load(loadOptions);
    this.#lastSuccess = now();
    this.#lastReload = { at: this.#lastSuccess, ok: true };
  }

  /** The last good configuration. */
  get current(): Config {
    return this.#current.config;
  }

  /** The file the current configuration came from, or null. */
  get file(): string | null {
    return this.#current.file;
  }

  /** Where each setting of the current configuration came from. */
  get sources(): Readonly<Record<string, string>> {
    return this.#current.sources;
  }

  /** When the last load (initial or reload) was attempted, and whether it worked. */
  get lastReload(): { readonly at: Date; readonly ok: boolean } {
    return this.#lastReload;
  }

  /** When a load last succeeded. */
  get lastSuccess(): Date {
    return this.#lastSuccess;
  }

  /** Re-reads every source. Never throws: a bad configuration keeps the current one and says why. */
  reload(): ReloadResult {
    const at = this.#now();
    let next: LoadResult;
    try {
      next = this.#load(this.#options);
    } catch (err) {
      const error =
        err instanceof ConfigError ? err : new ConfigError([{ source: 'reload', key: '', message: (err as Error)?.message ?? String(err) }], { cause: err });
      const failed: ReloadResult = { ok: false, changed: false, at, error };
      this.#lastReload = { at, ok: false };
      this.emit('reload', failed);
      return failed;
    }
    const previous = this.#current.config;
    const changed = JSON.stringify(next.config) !== JSON.stringify(previous);
    this.#current = next;
    this.#lastSuccess = at;
    this.#lastReload = { at, ok: true };
    const result: ReloadResult = { ok: true, changed, at };
    this.emit('reload', result);
    if (changed) this.emit('change', next.config, previous);
    return result;
  }
}
