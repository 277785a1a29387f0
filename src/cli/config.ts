// `coredns-healthd config check|print`, and the configuration options that
// `run` shares with them:
//
//   --config FILE       the JSON file (default $COREDNS_HEALTHD_CONFIG, else /etc/coredns-healthd.json)
//   --listen ADDR       http.listen (--web.listen-address: the same, node_exporter's name)
//   --web.config.file FILE  http.webConfigFile (exporter-toolkit's web configuration)
//   --log-level LEVEL   log.level
//   --set KEY=VALUE     any setting, e.g. --set probe.timeout=500ms (repeatable)
// Flags win over the environment, which wins over the file.
import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfigResult, printConfig, type LoadOptions, type LoadResult } from '../config/load.js';
import { SETTINGS } from '../config/schema.js';
import { describeWebConfig, loadWebConfig, type WebConfig } from '../http/web-config.js';
import type { Io } from './check.js';
import { UsageError } from './usage.js';

export const CONFIG_OPTIONS_USAGE = `  --config FILE          configuration file (default $COREDNS_HEALTHD_CONFIG, else ${DEFAULT_CONFIG_FILE})
  --listen ADDR          HTTP listen address, e.g. 127.0.0.1:9890, [::1]:9890 or :9890
                         (every address) (http.listen)
  --web.listen-address ADDR
                         the same as --listen (node_exporter's name)
  --web.config.file FILE web configuration: TLS, basic authentication, headers, in
                         Prometheus exporter-toolkit's YAML (http.webConfigFile)
  --log-level LEVEL      debug, info, warn or error (log.level)
  --set KEY=VALUE        set any setting, e.g. --set probe.timeout=500ms (repeatable)
  -h, --help             this text`;

export const CONFIG_USAGE = `Usage: coredns-healthd config check [options]
       coredns-healthd config print [--sources] [options]

check   validates the configuration (file, environment, flags) and the web
        configuration file it names (certificates and keys included); exits 0
        when both are valid, 2 with every problem (key and source) when not
print   prints the effective configuration as JSON (durations in milliseconds);
        --sources prints each setting with where its value came from

Options:
${CONFIG_OPTIONS_USAGE}
  --sources              (print) one line per setting: key = value  (source)
`;

const CONFIG_ARG_OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string' },
  'web.listen-address': { type: 'string' },
  'web.config.file': { type: 'string' },
  'log-level': { type: 'string' },
  set: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ConfigArgs {
  load: LoadOptions;
  help: boolean;
}

/** The values parseArgs gave for the shared options → loader options; throws UsageError. */
export function loadOptionsFrom(values: {
  config?: string;
  listen?: string;
  'web.listen-address'?: string;
  'web.config.file'?: string;
  'log-level'?: string;
  set?: string[];
}): LoadOptions {
  const flags: Record<string, unknown> = {};
  const flagNames: Record<string, string> = {};
  const put = (key: string, value: string, flag: string): void => {
    if (key in flags) throw new UsageError(`${flag}: ${key} is already set by ${flagNames[key]}`);
    flags[key] = value;
    flagNames[key] = flag;
  };
  if (values.listen !== undefined) put('http.listen', values.listen, '--listen');
  if (values['web.listen-address'] !== undefined) put('http.listen', values['web.listen-address'], '--web.listen-address');
  if (values['web.config.file'] !== undefined) put('http.webConfigFile', values['web.config.file'], '--web.config.file');
  if (values['log-level'] !== undefined) put('log.level', values['log-level'], '--log-level');
  for (const item of values.set ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set: expected KEY=VALUE (e.g. probe.timeout=500ms), got ${JSON.stringify(item)}`);
    const key = item.slice(0, eq).trim();
    put(key, item.slice(eq + 1), `--set ${key}`);
  }
  const load: LoadOptions = { flags, flagNames };
  if (values.config !== undefined) {
    if (values.config === '') throw new UsageError('--config: expected a file path');
    load.file = values.config;
  }
  return load;
}

function parse(argv: string[], extra: Record<string, { type: 'boolean' }> = {}): { values: Record<string, unknown> } {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options: { ...CONFIG_ARG_OPTIONS, ...extra } });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** argv of `run` or `config check` → loader options. */
export function parseConfigArgs(argv: string[]): ConfigArgs {
  const { values } = parse(argv);
  return { load: loadOptionsFrom(values), help: Boolean(values.help) };
}

/** Prints a configuration error as "coredns-healthd: <source>: <key>: <message>" lines; returns 2. */
export function reportConfigError(err: ConfigError, io: Io): number {
  io.stderr(`coredns-healthd: invalid configuration:\n${err.problems.map((p) => `  ${p.source}: ${p.key ? `${p.key}: ` : ''}${p.message}`).join('\n')}\n`);
  return err.exitCode;
}

function describeSource(r: LoadResult, requested: string | undefined): string {
  if (r.file) return r.file;
  return requested === undefined ? `no file (${DEFAULT_CONFIG_FILE} does not exist): defaults, environment and flags` : 'no file';
}

const show = (v: unknown): string => JSON.stringify(v);

function getPath(obj: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], obj);
}

/** `config check` / `config print`; returns the exit code. `check` also reads the web configuration file. */
export function runConfig(
  argv: string[],
  io: Io,
  load: (o: LoadOptions) => LoadResult = loadConfigResult,
  loadWeb: (file: string, setting: string) => WebConfig = loadWebConfig,
): number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout(CONFIG_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'check' && sub !== 'print') throw new UsageError(`config: unknown subcommand ${JSON.stringify(sub)} (check or print)\n\n${CONFIG_USAGE}`);
  const { values } = parse(rest, sub === 'print' ? { sources: { type: 'boolean' } } : {});
  if (values.help) {
    io.stdout(CONFIG_USAGE);
    return 0;
  }
  const opts = loadOptionsFrom(values);
  let result: LoadResult;
  try {
    result = load(opts);
  } catch (err) {
    if (err instanceof ConfigError) return reportConfigError(err, io);
    throw err;
  }
  if (sub === 'check') {
    const webFile = result.config.http.webConfigFile;
    let web: WebConfig | null = null;
    if (webFile !== '') {
      const from = result.sources['http.webConfigFile'];
      try {
        web = loadWeb(webFile, `http.webConfigFile${from && from !== 'default' ? `, from ${from}` : ''}`);
      } catch (err) {
        if (err instanceof ConfigError) return reportConfigError(err, io);
        throw err;
      }
    }
    io.stdout(`configuration OK: ${describeSource(result, values.config as string | undefined)}\n`);
    if (web) {
      const d = describeWebConfig(web);
      io.stdout(
        `web configuration OK: ${webFile} (${web.tls ? `TLS, client certificates: ${web.tls.clientAuth}` : 'plain HTTP'}; basic authentication: ${web.users.size} user${web.users.size === 1 ? '' : 's'}${(d.headers as string[]).length ? `; headers: ${(d.headers as string[]).join(', ')}` : ''})\n`,
      );
      for (const w of web.warnings) io.stderr(`coredns-healthd: warning: ${webFile}: ${w}\n`);
    }
    return 0;
  }
  if (values.sources) {
    const lines = SETTINGS.map((s) => `${s.key} = ${show(getPath(result.config, s.key))}  (${result.sources[s.key] ?? 'default'})`);
    io.stdout(`${lines.join('\n')}\n`);
  } else {
    io.stdout(printConfig(result.config));
  }
  return 0;
}
