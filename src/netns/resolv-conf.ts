// resolv.conf as the stub resolvers of glibc and musl read it: nameservers,
// search list and options. The parser is pure and never throws: anything it
// cannot use becomes a warning naming the line.
import fs from 'node:fs/promises';
import net from 'node:net';

export interface Nameserver {
  /** The address without any scope id. */
  address: string;
  family: 4 | 6;
  /** IPv6 zone (`fe80::1%eth0` → `eth0`); such a server can only be probed with that interface. */
  scopeId?: string;
  line: number;
}

export interface ResolvOptions {
  /** Effective values (glibc defaults and caps applied). */
  ndots: number;
  timeout: number;
  attempts: number;
  /** Every other option, as written (`rotate`, `edns0`, `use-vc`, `single-request-reopen`, ...). */
  other: string[];
}

export interface ResolvConf {
  /** The nameservers resolvers use: the first MAXNS (3) valid ones. */
  nameservers: Nameserver[];
  /** Valid nameservers past the first three: glibc and musl ignore them. */
  ignoredNameservers: Nameserver[];
  /** The search list (the last `search` or `domain` line wins, as in glibc). */
  search: string[];
  options: ResolvOptions;
  warnings: string[];
}

export interface ResolvConfRead {
  path: string;
  parsed: ResolvConf;
  /** Set when the file could not be read; `parsed` is then empty. */
  error?: { code: string; message: string };
}

export const MAXNS = 3;
const MAX_SEARCH = 32; // glibc 2.26+ has no fixed limit; musl keeps 256 bytes. Warn past this.
// glibc res_init.c: defaults and the caps it silently applies.
const DEFAULTS = { ndots: 1, timeout: 5, attempts: 2 } as const;
const CAPS = { ndots: 15, timeout: 30, attempts: 5 } as const;
const KNOWN_IGNORED = new Set(['sortlist', 'lookup', 'family']); // valid but irrelevant to probing

export function emptyResolvConf(): ResolvConf {
  return { nameservers: [], ignoredNameservers: [], search: [], options: { ...DEFAULTS, other: [] }, warnings: [] };
}

function parseNameserver(value: string | undefined, lineNo: number, warnings: string[]): Nameserver | undefined {
  if (value === undefined) {
    warnings.push(`line ${lineNo}: "nameserver" without an address`);
    return undefined;
  }
  const pct = value.indexOf('%');
  const address = pct < 0 ? value : value.slice(0, pct);
  const scopeId = pct < 0 ? undefined : value.slice(pct + 1);
  const family = net.isIP(address);
  if (family === 0 || (scopeId !== undefined && (family !== 6 || scopeId === ''))) {
    warnings.push(`line ${lineNo}: nameserver ${JSON.stringify(value)} is not a valid IPv4 or IPv6 address`);
    return undefined;
  }
  const ns: Nameserver = { address, family: family as 4 | 6, line: lineNo };
  if (scopeId !== undefined) ns.scopeId = scopeId;
  return ns;
}

function parseOption(opt: string, lineNo: number, options: ResolvOptions, warnings: string[]): void {
  const m = /^(ndots|timeout|attempts):(.*)$/.exec(opt);
  if (!m) {
    options.other.push(opt);
    return;
  }
  const key = m[1] as keyof typeof CAPS;
  if (!/^\d+$/.test(m[2]!)) {
    warnings.push(`line ${lineNo}: option ${key} needs a non-negative integer, got ${JSON.stringify(m[2])}`);
    return;
  }
  const n = Number(m[2]);
  if (n > CAPS[key]) warnings.push(`line ${lineNo}: option ${key}:${n} is capped at ${CAPS[key]}`);
  options[key] = Math.min(n, CAPS[key]);
}

/** Parses resolv.conf text. Never throws. */
export function parseResolvConf(text: string): ResolvConf {
  const out = emptyResolvConf();
  const all: Nameserver[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const [keyword, ...args] = line.split(/\s+/);
    switch (keyword) {
      case 'nameserver': {
        if (args.length > 1) out.warnings.push(`line ${lineNo}: extra text after the nameserver address is ignored`);
        const ns = parseNameserver(args[0], lineNo, out.warnings);
        if (ns) all.push(ns);
        break;
      }
      case 'search':
      case 'domain':
        if (args.length === 0) {
          out.warnings.push(`line ${lineNo}: "${keyword}" without a domain`);
          break;
        }
        out.search = keyword === 'domain' ? [args[0]!] : args;
        if (out.search.length > MAX_SEARCH) out.warnings.push(`line ${lineNo}: ${out.search.length} search domains; resolvers may truncate the list`);
        break;
      case 'options':
        for (const opt of args) parseOption(opt, lineNo, out.options, out.warnings);
        break;
      default:
        if (!KNOWN_IGNORED.has(keyword!)) out.warnings.push(`line ${lineNo}: unknown keyword ${JSON.stringify(keyword)}`);
    }
  });
  if (all.length === 0) out.warnings.push('no valid nameserver: glibc and musl then query 127.0.0.1');
  out.nameservers = all.slice(0, MAXNS);
  out.ignoredNameservers = all.slice(MAXNS);
  if (out.ignoredNameservers.length > 0) {
    const list = out.ignoredNameservers.map((n) => n.address).join(', ');
    out.warnings.push(`only the first ${MAXNS} nameservers are used; ignored: ${list}`);
  }
  return out;
}

/**
 * Reads and parses one resolv.conf. A missing or unreadable file is not
 * thrown: it comes back as `error`, with a message naming the file.
 */
export async function readResolvConf(path: string): Promise<ResolvConfRead> {
  try {
    const text = await fs.readFile(path, 'utf8');
    return { path, parsed: parseResolvConf(text) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const code = e.code ?? 'EIO';
    return { path, parsed: emptyResolvConf(), error: { code, message: `cannot read resolv.conf ${path}: ${code} (${e.message})` } };
  }
}
