// resolv.conf as the stub resolvers of glibc and musl read it: nameservers,
// search list and options. The parser is pure and never throws: anything it
// cannot use becomes a warning naming the line.
import net from 'node:net';
import { capString } from '../text/untrusted.js';
import { readFileRef, type ReadFileOptions } from '../netns/container-file.js';
import { type FileRef, Nameserver, ResolvConf, ResolvConfRead, ResolvOptions } from '../model.js';

export const MAXNS = 3;
const MAX_SEARCH = 32; // glibc 2.26+ has no fixed limit; musl keeps 256 bytes. Warn past this.
// glibc res_init.c: defaults and the caps it silently applies.
const DEFAULTS = { ndots: 1, timeout: 5, attempts: 2 } as const;
const CAPS = { ndots: 15, timeout: 30, attempts: 5 } as const;
const KNOWN_IGNORED = new Set(['sortlist', 'lookup', 'family']); // valid but irrelevant to probing

// Bounds. resolv.conf is container-controlled: whatever its size (the reader
// stops at 64 KiB, the parser does not rely on it), the parsed result holds at
// most this much, and counts say how much more there was. Worst case about
// 12 KB of JSON; the parser's time is linear in the input and its memory is
// the input plus these caps (long lines are scanned, never split into arrays).
/** Valid nameservers past the first three that are kept (ignoredCount counts them all). */
export const MAX_IGNORED_KEPT = 16;
/** Search domains kept (searchCount and searchLength describe the whole list). */
export const MAX_SEARCH_KEPT = 16;
/** Characters of one kept search domain (a DNS name has at most 253). */
export const MAX_DOMAIN_KEPT = 256;
/** Other options kept, then one "…and N more". */
export const MAX_OPTIONS_KEPT = 16;
/** Characters of one kept option (real ones are at most 21: single-request-reopen). */
export const MAX_OPTION_KEPT = 64;
/** Line warnings kept, then one "…and N more line problems". */
export const MAX_LINE_WARNINGS = 16;
/** Longer tokens are no address: the longest IPv6 text is 45 characters, a scope id 15. */
const MAX_ADDRESS_TOKEN = 64;
/** linux/if.h: an interface name has at most IFNAMSIZ - 1 = 15 characters. */
const IFNAMSIZ = 16;
const MAX_DOMAIN_NAME = 253;
/** Lines listed in the "ignored nameservers" warning. */
const MAX_LINES_LISTED = 8;

// Characters no domain name should hold: C0/C1 controls, DEL, and the line
// separators and bidi controls that can forge what a terminal shows.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
// A scope id: an interface name (no '/', ':', '%' or blank, printable ASCII here) or an index.
const SCOPE_ID = /^[\x21-\x7e]+$/;

export function emptyResolvConf(): ResolvConf {
  return {
    nameservers: [],
    ignoredNameservers: [],
    ignoredCount: 0,
    search: [],
    searchCount: 0,
    searchLength: 0,
    options: { ...DEFAULTS, other: [] },
    warnings: [],
    lineWarningCount: 0,
  };
}

/** The line warnings: the first MAX_LINE_WARNINGS kept, all counted. */
class LineWarnings {
  readonly kept: string[] = [];
  count = 0;
  add(lineNo: number, what: string): void {
    this.count++;
    if (this.kept.length < MAX_LINE_WARNINGS) this.kept.push(`line ${lineNo}: ${what}`);
  }
}

// Blanks as the C locale's isspace() sees them within a line (space, \t, \v,
// \f, \r). Unicode spaces are not separators for glibc or musl, so not here either.
const isBlank = (c: number): boolean => c === 32 || (c >= 9 && c <= 13 && c !== 10);

/** The blank-separated tokens of one line, one at a time (a line may hold millions). */
class Tokens {
  private pos = 0;
  constructor(private readonly line: string) {}
  next(): string | undefined {
    const s = this.line;
    const n = s.length;
    let i = this.pos;
    while (i < n && isBlank(s.charCodeAt(i))) i++;
    const start = i;
    while (i < n && !isBlank(s.charCodeAt(i))) i++;
    this.pos = i;
    return i > start ? s.slice(start, i) : undefined;
  }
}

function validScopeId(s: string): boolean {
  return s.length < IFNAMSIZ && SCOPE_ID.test(s) && !/[/:%]/.test(s) && s !== '.' && s !== '..';
}

function parseNameserver(value: string | undefined, lineNo: number, warnings: LineWarnings): Nameserver | undefined {
  if (value === undefined) {
    warnings.add(lineNo, '"nameserver" without an address');
    return undefined;
  }
  const invalid = 'nameserver is not a valid IPv4 or IPv6 address';
  if (value.length > MAX_ADDRESS_TOKEN) {
    warnings.add(lineNo, invalid);
    return undefined;
  }
  const pct = value.indexOf('%');
  const address = pct < 0 ? value : value.slice(0, pct);
  const scopeId = pct < 0 ? undefined : value.slice(pct + 1);
  const family = net.isIP(address);
  if (family === 0) {
    warnings.add(lineNo, invalid);
    return undefined;
  }
  if (scopeId !== undefined) {
    if (family !== 6) warnings.add(lineNo, 'nameserver has a scope id (%...), which only an IPv6 address can have');
    else if (scopeId === '') warnings.add(lineNo, 'nameserver has an empty scope id');
    else if (!validScopeId(scopeId)) warnings.add(lineNo, 'nameserver has a scope id that is no interface name or number');
    if (family !== 6 || !validScopeId(scopeId)) return undefined;
  }
  const ns: Nameserver = { address, family: family as 4 | 6, line: lineNo };
  if (scopeId !== undefined) ns.scopeId = scopeId;
  return ns;
}

function parseOption(opt: string, lineNo: number, options: ResolvOptions, other: { count: number }, warnings: LineWarnings): void {
  const colon = opt.indexOf(':');
  const key = colon < 0 ? '' : opt.slice(0, colon);
  if (key !== 'ndots' && key !== 'timeout' && key !== 'attempts') {
    other.count++;
    if (options.other.length < MAX_OPTIONS_KEPT) options.other.push(capString(opt, MAX_OPTION_KEPT));
    return;
  }
  const value = opt.slice(colon + 1);
  if (!/^\d+$/.test(value)) {
    warnings.add(lineNo, `option ${key} needs a non-negative integer`);
    return;
  }
  const n = Number(value); // Infinity for an absurdly long number: capped below
  if (n > CAPS[key]) warnings.add(lineNo, `option ${value.length <= 6 ? `${key}:${n}` : key} is capped at ${CAPS[key]}`);
  options[key] = Math.min(n, CAPS[key]);
}

/** The search list of one `search` (every token) or `domain` (the first) line. */
function parseSearch(keyword: 'search' | 'domain', args: Tokens, lineNo: number, out: ResolvConf, warnings: LineWarnings): void {
  const kept: string[] = [];
  let count = 0;
  let length = 0;
  let invalid = 0;
  for (let d = args.next(); d !== undefined; d = args.next()) {
    count++;
    length += (count > 1 ? 1 : 0) + d.length;
    if (kept.length < MAX_SEARCH_KEPT) kept.push(capString(d, MAX_DOMAIN_KEPT));
    if (d.length > MAX_DOMAIN_NAME || CONTROL.test(d)) invalid++;
    if (keyword === 'domain') break;
  }
  if (count === 0) {
    warnings.add(lineNo, `"${keyword}" without a domain`);
    return;
  }
  out.search = kept;
  out.searchCount = count;
  out.searchLength = length;
  if (count > MAX_SEARCH) warnings.add(lineNo, `${count} search domains; resolvers may truncate the list`);
  if (invalid > 0) {
    warnings.add(
      lineNo,
      `${invalid === 1 ? '1 search domain is not a domain name' : `${invalid} search domains are not domain names`} (control characters, or longer than ${MAX_DOMAIN_NAME} characters)`,
    );
  }
}

function linesList(lines: readonly number[], total: number): string {
  const shown = lines.slice(0, MAX_LINES_LISTED).join(', ');
  return `${lines.length === 1 ? 'line' : 'lines'} ${shown}${total > MAX_LINES_LISTED ? ` and ${total - MAX_LINES_LISTED} more` : ''}`;
}

/**
 * Parses resolv.conf text. Never throws, and never puts the file's text in a
 * warning: each names its line and the kind of problem. The result is bounded
 * whatever the input (see MAX_* above).
 */
export function parseResolvConf(text: string): ResolvConf {
  const out = emptyResolvConf();
  const warnings = new LineWarnings();
  const other = { count: 0 };
  const ignoredLines: number[] = [];
  let valid = 0;
  if (typeof text !== 'string') text = '';
  let start = 0;
  for (let lineNo = 1; start <= text.length; lineNo++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end === start || (end === start + 1 && text.charCodeAt(start) === 13)) {
      start = end + 1; // an empty line
      continue;
    }
    const line = text.slice(start, end);
    start = end + 1;
    const args = new Tokens(line);
    const keyword = args.next();
    if (keyword === undefined) continue;
    if (keyword.startsWith('#') || keyword.startsWith(';')) continue;
    switch (keyword) {
      case 'nameserver': {
        const address = args.next();
        if (address !== undefined && args.next() !== undefined) warnings.add(lineNo, 'extra text after the nameserver address is ignored');
        const ns = parseNameserver(address, lineNo, warnings);
        if (!ns) break;
        valid++;
        if (out.nameservers.length < MAXNS) out.nameservers.push(ns);
        else {
          out.ignoredCount++;
          if (out.ignoredNameservers.length < MAX_IGNORED_KEPT) out.ignoredNameservers.push(ns);
          if (ignoredLines.length < MAX_LINES_LISTED) ignoredLines.push(lineNo);
        }
        break;
      }
      case 'search':
      case 'domain':
        parseSearch(keyword, args, lineNo, out, warnings);
        break;
      case 'options':
        for (let opt = args.next(); opt !== undefined; opt = args.next()) parseOption(opt, lineNo, out.options, other, warnings);
        break;
      default:
        if (!KNOWN_IGNORED.has(keyword)) warnings.add(lineNo, 'unknown keyword');
    }
  }
  if (other.count > out.options.other.length) out.options.other.push(`…and ${other.count - out.options.other.length} more`);
  out.warnings = warnings.kept;
  out.lineWarningCount = warnings.count;
  if (warnings.count > warnings.kept.length) out.warnings.push(`…and ${warnings.count - warnings.kept.length} more line problems`);
  if (valid === 0) out.warnings.push('no valid nameserver: glibc and musl then query 127.0.0.1');
  if (out.ignoredCount > 0) {
    const n = out.ignoredCount;
    out.warnings.push(`only the first ${MAXNS} nameservers are used; ${n === 1 ? '1 more is' : `${n} more are`} ignored (${linesList(ignoredLines, n)})`);
  }
  return out;
}

// The daemon reads every vantage's resolv.conf every sweep, and on a node
// nearly all of them hold one of a few texts (the kubelet writes the same
// lines for every pod of a DNS policy). So a text parses once: results are
// kept by text, frozen (shared by every vantage holding that text; a caller
// that modified one would change it for the others), for texts of at most
// PARSE_MEMO_MAX_TEXT characters, the PARSE_MEMO_MAX_ENTRIES most recently
// used. A container writing ever new texts only evicts: at most about
// 512 x (2 KiB of text + what 2 KiB parse into) stays, about 4 MiB.
/** Texts whose parse is kept. */
export const PARSE_MEMO_MAX_ENTRIES = 512;
/** Longer texts are parsed every time (the kubelet writes a few hundred bytes). */
export const PARSE_MEMO_MAX_TEXT = 2048;
const parsedByText = new Map<string, ResolvConf>();

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * parseResolvConf, memoized by text (see above): the result is frozen and
 * may be shared. Same result as parseResolvConf(text) otherwise.
 */
export function parseResolvConfShared(text: string): Readonly<ResolvConf> {
  if (typeof text !== 'string' || text.length > PARSE_MEMO_MAX_TEXT) return deepFreeze(parseResolvConf(text));
  const hit = parsedByText.get(text);
  if (hit) {
    // Most recently used last: Map keeps insertion order.
    parsedByText.delete(text);
    parsedByText.set(text, hit);
    return hit;
  }
  const parsed = deepFreeze(parseResolvConf(text));
  if (parsedByText.size >= PARSE_MEMO_MAX_ENTRIES) parsedByText.delete(parsedByText.keys().next().value!);
  parsedByText.set(text, parsed);
  return parsed;
}

/** Texts the memo holds now (tests). */
export const parseMemoSize = (): number => parsedByText.size;

/**
 * Reads and parses one resolv.conf: a container's resolved inside its root,
 * the host's as root reads it (src/netns/container-file.ts: regular files
 * only, at most 64 KiB). A file that cannot be read, is not a regular file or
 * is too large is not thrown: it comes back as `error`, with a message naming
 * the file.
 */
export async function readResolvConf(file: FileRef, options: ReadFileOptions = {}): Promise<ResolvConfRead> {
  const r = await readFileRef(file, options);
  if (r.status === 'ok') return { path: r.path, file, parsed: parseResolvConfShared(r.text) };
  const error: NonNullable<ResolvConfRead['error']> = { code: r.code, message: r.message };
  if (r.status === 'too-large') error.size = r.size;
  else if (r.fileType !== undefined) error.fileType = r.fileType;
  return { path: r.path, file, parsed: emptyResolvConf(), error };
}
