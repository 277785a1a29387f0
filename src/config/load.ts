// Loads the configuration: schema defaults < the JSON file < environment
// (COREDNS_HEALTHD_...) < command-line flags. Unknown keys are errors, and
// every error names the key and where its value came from.
import fs from 'node:fs';
import convict from 'convict';
import { ConfigError, type ConfigProblem } from './errors.js';
import { FORMATS } from './formats.js';
import { type JsonType, jsonTypeOf } from './format.js';
import { JsonSyntaxError, parseJson } from './json.js';
import { ENV_PREFIX, RELATIONS, SCHEMA, SETTINGS, SETTINGS_BY_KEY, convictSchema, isSetting, type Config, type Section } from './schema.js';

export type { Config } from './schema.js';
export { describeConfig } from './schema.js';
export { ConfigError } from './errors.js';

export const DEFAULT_CONFIG_FILE = '/etc/coredns-healthd.json';
/** Names the configuration file when no `file` option is given. */
export const CONFIG_FILE_ENV = `${ENV_PREFIX}CONFIG`;

export interface LoadOptions {
  /**
   * The JSON file; false reads none. Default: $COREDNS_HEALTHD_CONFIG, else
   * /etc/coredns-healthd.json. A file given here or in the environment must
   * exist; the default one may be missing (then the defaults apply).
   */
  file?: string | false;
  /** Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Setting key → value, e.g. { 'probe.timeout': '500ms', targets: ['10.0.0.1'] }. Strings are parsed as from the environment. */
  flags?: Readonly<Record<string, unknown>>;
  /** Setting key → the flag that set it, for messages ("--timeout"); default "--<key>". */
  flagNames?: Readonly<Record<string, string>>;
  /** Also require the default file to exist. */
  requireFile?: boolean;
  /** The default file; default /etc/coredns-healthd.json (tests and install roots point elsewhere). */
  defaultFile?: string;
}

export interface LoadResult {
  config: Config;
  /** The file that was read, or null when none was. */
  file: string | null;
  /** Setting key → where its value came from: "default", the file, "environment NAME" or "flag --name". */
  sources: Readonly<Record<string, string>>;
}

type Convict = convict.Config<Record<string, unknown>>;
type Sources = Record<string, string>;

let formatsRegistered = false;
function registerFormats(): void {
  if (formatsRegistered) return;
  for (const f of FORMATS.values()) convict.addFormat({ name: f.name, validate: f.validate, ...(f.coerce ? { coerce: f.coerce } : {}) });
  formatsRegistered = true;
}

// ---------------------------------------------------------------------------
// Messages

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

const withArticle = (t: JsonType): string => (t === 'null' ? 'null' : t === 'array' || t === 'object' ? `an ${t}` : `a ${t}`);

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** ' (did you mean "x"?)' for a near miss, else the list of what is allowed. */
function suggestion(name: string, known: readonly string[], listAll: boolean): string {
  const lower = name.toLowerCase();
  const near = known
    .map((k) => ({ k, d: k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase()) }))
    .filter((c) => c.d <= Math.max(2, Math.floor(name.length / 4)))
    .sort((x, y) => x.d - y.d)[0];
  if (near) return ` (did you mean ${JSON.stringify(near.k)}?)`;
  return listAll ? ` (known here: ${known.join(', ')})` : '';
}

// ---------------------------------------------------------------------------
// The file

interface FileChoice {
  file: string | null;
  required: boolean;
}

function chooseFile(opts: LoadOptions, env: Readonly<Record<string, string | undefined>>): FileChoice {
  if (opts.file === false) return { file: null, required: false };
  if (typeof opts.file === 'string') return { file: opts.file, required: true };
  const fromEnv = env[CONFIG_FILE_ENV];
  if (fromEnv) return { file: fromEnv, required: true };
  return { file: opts.defaultFile ?? DEFAULT_CONFIG_FILE, required: opts.requireFile === true };
}

/** The parsed file, or null when it may be and is missing. */
function readFile(file: string, required: boolean): Record<string, unknown> | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' && !required) return null;
    const message = e.code === 'ENOENT' ? 'configuration file not found' : `cannot read the configuration file: ${e.message}`;
    throw new ConfigError([{ source: file, key: '', message }], { cause: err });
  }
  if (text.trim() === '') return {};
  let data: unknown;
  try {
    data = parseJson(text);
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    throw new ConfigError([{ source: `${file}:${err.line}:${err.column}`, key: err.keyPath, message: `invalid JSON: ${err.detail}` }], { cause: err });
  }
  if (jsonTypeOf(data) !== 'object') {
    throw new ConfigError([{ source: file, key: '', message: `must hold a JSON object ({ ... }) at the top level, got ${withArticle(jsonTypeOf(data))}` }]);
  }
  return data as Record<string, unknown>;
}

/** Unknown keys, sections that are not objects, and JSON types a setting never takes; records the file as the source of each setting. */
function checkFileShape(data: Record<string, unknown>, section: Section, prefix: string, file: string, sources: Sources, problems: ConfigProblem[]): void {
  for (const [name, value] of Object.entries(data)) {
    const key = prefix + name;
    const node = Object.prototype.hasOwnProperty.call(section, name) ? section[name] : undefined;
    if (node === undefined) {
      problems.push({ source: file, key, message: `unknown key${suggestion(name, Object.keys(section), true)}` });
    } else if (isSetting(node)) {
      const format = FORMATS.get(node.format)!;
      const type = jsonTypeOf(value);
      if (!format.json.includes(type)) {
        const want = format.json.map(withArticle).join(' or ');
        problems.push({ source: file, key, message: `must be ${want} (${format.doc}), got ${withArticle(type)}${type === 'null' ? '' : `: ${show(value)}`}` });
      }
      sources[key] = file;
    } else if (jsonTypeOf(value) !== 'object') {
      problems.push({
        source: file,
        key,
        message: `must be an object (a section with ${Object.keys(node).join(', ')}), got ${withArticle(jsonTypeOf(value))}`,
      });
    } else {
      checkFileShape(value as Record<string, unknown>, node, `${key}.`, file, sources, problems);
    }
  }
}

// ---------------------------------------------------------------------------
// Environment and flags

function applyEnv(conv: Convict, env: Readonly<Record<string, string | undefined>>, sources: Sources, problems: ConfigProblem[]): void {
  const names = SETTINGS.map((s) => s.env);
  for (const s of SETTINGS) {
    const value = env[s.env];
    if (value === undefined) continue;
    conv.set(s.key, value);
    sources[s.key] = `environment ${s.env}`;
  }
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_FILE_ENV || names.includes(name)) continue;
    problems.push({ source: `environment ${name}`, key: '', message: `not a setting${suggestion(name, names, false)}` });
  }
}

function applyFlags(
  conv: Convict,
  flags: Readonly<Record<string, unknown>>,
  flagNames: Readonly<Record<string, string>>,
  sources: Sources,
  problems: ConfigProblem[],
): void {
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const source = `flag ${flagNames[key] ?? `--${key}`}`;
    if (!SETTINGS_BY_KEY.has(key)) {
      problems.push({ source, key, message: `not a setting${suggestion(key, [...SETTINGS_BY_KEY.keys()], false)}` });
      continue;
    }
    conv.set(key, typeof value === 'string' ? value : structuredClone(value));
    sources[key] = source;
  }
}

// ---------------------------------------------------------------------------
// Validation

const SUB_PATH = /^((?:\[\d+\])(?:\.[A-Za-z]+|\[\d+\])*): (.*)$/s;

/** One line of convict's validate() message → a problem with its key and source. */
function convictProblem(line: string, sources: Sources): ConfigProblem {
  const param = /^configuration param '(.+)' (.*)$/.exec(line);
  if (param) return { source: sources[param[1]!] ?? 'configuration', key: param[1]!, message: param[2]! };
  const keyed = /^([A-Za-z0-9_.]+): (.*)$/s.exec(line);
  if (!keyed) return { source: 'configuration', key: '', message: line };
  let key = keyed[1]!;
  let message = keyed[2]!;
  let value: string | null = null;
  const at = message.lastIndexOf(': value was ');
  if (at !== -1) {
    value = message.slice(at + ': value was '.length);
    message = message.slice(0, at);
  }
  const sub = SUB_PATH.exec(message);
  if (sub) {
    key += sub[1];
    message = sub[2]!;
  } else if (value !== null && !message.includes(value)) {
    message += `, got ${value.length > 60 ? `${value.slice(0, 57)}...` : value}`;
  }
  return { source: sources[keyed[1]!] ?? 'default', key, message };
}

function validate(conv: Convict, sources: Sources): ConfigProblem[] {
  try {
    conv.validate({ allowed: 'strict', output: () => undefined });
    return [];
  } catch (err) {
    return (err as Error).message.split('\n').map((line) => convictProblem(line, sources));
  }
}

function getPath(obj: Record<string, unknown>, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], obj);
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  const last = parts.pop()!;
  const parent = parts.reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, obj);
  parent[last] = value;
}

function normalize(values: Record<string, unknown>): Config {
  for (const s of SETTINGS) {
    if (s.format.normalize) setPath(values, s.key, s.format.normalize(getPath(values, s.key)));
  }
  return values as unknown as Config;
}

function checkRelations(config: Config, sources: Sources): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const r of RELATIONS) {
    const message = r.check(config);
    if (message === null) continue;
    const source = r.keys.map((k) => sources[k]!).find((s) => s !== 'default') ?? 'default';
    problems.push({ source, key: r.keys[0]!, message });
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

// ---------------------------------------------------------------------------

/** Loads and validates the configuration; throws ConfigError (exitCode 2) listing every problem. */
export function loadConfigResult(opts: LoadOptions = {}): LoadResult {
  registerFormats();
  const env = opts.env ?? process.env;
  const conv: Convict = convict<Record<string, unknown>>(convictSchema() as convict.Schema<Record<string, unknown>>, { env: {}, args: [] });
  const sources: Sources = Object.fromEntries(SETTINGS.map((s) => [s.key, 'default']));

  const { file, required } = chooseFile(opts, env);
  const data = file === null ? null : readFile(file, required);
  if (data !== null) {
    const fileProblems: ConfigProblem[] = [];
    checkFileShape(data, SCHEMA, '', file!, sources, fileProblems);
    if (fileProblems.length > 0) throw new ConfigError(fileProblems);
    conv.load(data);
  }

  const problems: ConfigProblem[] = [];
  applyEnv(conv, env, sources, problems);
  applyFlags(conv, opts.flags ?? {}, opts.flagNames ?? {}, sources, problems);
  problems.push(...validate(conv, sources));
  if (problems.length > 0) throw new ConfigError(problems);

  const config = normalize(conv.getProperties());
  const related = checkRelations(config, sources);
  if (related.length > 0) throw new ConfigError(related);
  return { config: deepFreeze(config), file: data === null ? null : file, sources: Object.freeze(sources) };
}

/** The effective configuration (plain data, deeply frozen). Throws ConfigError. */
export function loadConfig(opts: LoadOptions = {}): Config {
  return loadConfigResult(opts).config;
}

/** The effective configuration as pretty JSON (durations in milliseconds), for `config print`. */
export function printConfig(config: Config): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}
