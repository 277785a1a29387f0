// Command-line flags shared by the commands that discover vantages (check,
// netns): parsing with errors that exit 2, and the flags that map one to one
// onto configuration keys.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags every discovering command takes. */
export const DISCOVERY_OPTIONS = {
  config: { type: 'string' },
  'host-resolv-conf': { type: 'string' },
  'proc-root': { type: 'string' },
  'docker-socket': { type: 'string' },
  'no-docker': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** Flag → configuration key, for flags that carry a setting's value as is. */
const VALUE_FLAGS: Readonly<Record<string, string>> = {
  server: 'targets',
  port: 'dnsPort',
  timeout: 'probe.timeout',
  attempts: 'probe.attempts',
  'host-resolv-conf': 'hostResolvConf',
  'proc-root': 'discovery.procRoot',
  'docker-socket': 'discovery.docker.socketPath',
};

/** Boolean flag → [configuration key, value it sets]. */
const SWITCH_FLAGS: Readonly<Record<string, [string, unknown]>> = {
  'host-only': ['discovery.containers', false],
  'no-host': ['discovery.host', false],
  'no-docker': ['discovery.docker.enabled', false],
};

/** parseArgs that throws UsageError (exit 2) naming the bad flag. */
export function parseFlags<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export interface ConfigFlags {
  /** Setting key → value, for loadConfig's flags. */
  flags: Record<string, unknown>;
  /** Setting key → the flag that set it, for error messages. */
  flagNames: Record<string, string>;
}

/** The given flags that set configuration keys. */
export function configFlags(values: Readonly<Record<string, unknown>>): ConfigFlags {
  const out: ConfigFlags = { flags: {}, flagNames: {} };
  for (const [flag, key] of Object.entries(VALUE_FLAGS)) {
    if (values[flag] === undefined) continue;
    out.flags[key] = values[flag];
    out.flagNames[key] = `--${flag}`;
  }
  for (const [flag, [key, value]] of Object.entries(SWITCH_FLAGS)) {
    if (!values[flag]) continue;
    out.flags[key] = value;
    out.flagNames[key] = `--${flag}`;
  }
  return out;
}
