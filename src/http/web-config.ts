// The web configuration file of Prometheus' exporter-toolkit (node_exporter's
// --web.config.file): TLS, basic authentication and response headers, in the
// same YAML, read at start and on every reload (http.webConfigFile).
//
// Strict like exporter-toolkit: an unknown key is an error naming the key and
// the file. Files are checked when loaded, not when the first client comes:
// the certificate, key and client CA must be readable PEM, the key must match
// the certificate, and the TLS settings must be accepted by Node's OpenSSL.
// Relative paths are read from the web configuration file's directory.
//
// What Node cannot do as Go does (README "Web configuration"):
// - min_version TLS10/TLS11 is accepted, with a warning: Node's OpenSSL 3
//   negotiates TLS 1.0 and 1.1 only at security level 0, so TLS 1.2 is the
//   real minimum; max_version below TLS12 is an error (nothing could connect).
// - cipher_suites: the TLS 1.2 names of Go's tls.CipherSuites() map to
//   OpenSSL's; TLS 1.3 names restrict the TLS 1.3 suites (Go ignores them).
// - RequireAnyClientCert, VerifyClientCertIfGiven and client_allowed_sans are
//   checked right after the handshake (Go does it inside it): a client that
//   fails is disconnected before its request is read.
// - http_server_config.http2 is accepted and has no effect: HTTP/1.1 only.
// Stricter than exporter-toolkit, on purpose: a tls_server_config without a
// certificate and key is an error (not plain HTTP), and so is a client_auth_type
// that verifies client certificates without client_ca_file/client_ca (it
// would trust every public CA).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { Alias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode, type Scalar } from 'yaml';
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import { parseDuration } from '../config/format-scalars.js';
import type { LoadOptions, LoadResult } from '../config/load.js';

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

/** tls.createSecureContext / Server.setSecureContext options, every one always set. */
export interface TlsContextOptions {
  cert: string;
  key: string;
  /** Client CA certificates (PEM); absent when none is configured. */
  ca?: string;
  minVersion: tls.SecureVersion;
  maxVersion: tls.SecureVersion;
  ciphers: string;
  ecdhCurve: string;
  honorCipherOrder: boolean;
}

export interface CertificateInfo {
  subject: string;
  serialNumber: string;
  validTo: string;
  fingerprint256: string;
}

export interface TlsServerSettings {
  context: TlsContextOptions;
  clientAuth: ClientAuthType;
  /** The client certificate must carry one of these SANs (DNS, IP, e-mail or URI); null: any. */
  clientAllowedSans: readonly string[] | null;
  /** The served certificate, for logs. */
  certificate: CertificateInfo;
}

export interface RateLimit {
  /** One request per intervalMs is refilled... */
  intervalMs: number;
  /** ...up to burst at once. */
  burst: number;
}

export interface WebConfig {
  /** The file it came from; null for plain HTTP without a file. */
  readonly file: string | null;
  /** null: plain HTTP. */
  readonly tls: TlsServerSettings | null;
  /** User → bcrypt hash; empty: no authentication. */
  readonly users: ReadonlyMap<string, string>;
  /** Response headers set on every answer. */
  readonly headers: Readonly<Record<string, string>>;
  readonly rateLimit: RateLimit | null;
  /** What is accepted but does not work as written (logged at warn, printed by `config check`). */
  readonly warnings: readonly string[];
}

export const PLAIN_WEB_CONFIG: WebConfig = Object.freeze({
  file: null,
  tls: null,
  users: new Map<string, string>(),
  headers: Object.freeze({}),
  rateLimit: null,
  warnings: Object.freeze([]),
});

/** Files larger than this are not read (the web configuration, certificates, keys). */
export const MAX_FILE_BYTES = 1024 * 1024;

/** Go's tls.VersionTLS1x names → Node's. */
const TLS_VERSIONS: Readonly<Record<string, tls.SecureVersion>> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };
const VERSION_ORDER: readonly tls.SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** Go's cipher suite names (tls.CipherSuites(), the ones exporter-toolkit accepts) → OpenSSL's. */
export const CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
};

/** Go names of suites OpenSSL 3 no longer offers at its default security level. */
const UNAVAILABLE_CIPHER_SUITES: ReadonlySet<string> = new Set(['TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA']);

/** exporter-toolkit's curve names → OpenSSL's. */
export const CURVES: Readonly<Record<string, string>> = { CurveP256: 'prime256v1', CurveP384: 'secp384r1', CurveP521: 'secp521r1', X25519: 'X25519' };

/** The response headers exporter-toolkit lets a web configuration set, with the values it allows (null: any). */
export const ALLOWED_HEADERS: Readonly<Record<string, readonly string[] | null>> = {
  'Strict-Transport-Security': null,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': null,
  'Content-Security-Policy': null,
};

/** A bcrypt hash: $2y$ (htpasswd -B), $2b$, $2a$ or $2$, a two-digit cost, 53 characters of salt and hash. */
const BCRYPT_HASH = /^\$2[aby]?\$(\d\d)\$[./A-Za-z0-9]{53}$/;
/** Above this cost, a verification takes more than about half a second here: warned about. */
export const BCRYPT_WARN_COST = 12;
/** Milliseconds of one bcrypt verification at cost 10 in bcryptjs on this project's build machine (x2 per cost step). */
const BCRYPT_MS_AT_10 = 90;

const TOP_KEYS = ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'] as const;
const TLS_KEYS = [
  'cert',
  'key',
  'client_ca',
  'cert_file',
  'key_file',
  'client_auth_type',
  'client_ca_file',
  'client_allowed_sans',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
] as const;
const HTTP_KEYS = ['http2', 'headers'] as const;
const RATE_KEYS = ['interval', 'burst'] as const;

// ---------------------------------------------------------------------------
// Reading the YAML: a small walker over yaml's nodes that keeps each value's
// position, so every problem names the file, line and key.

class Problems {
  readonly list: ConfigProblem[] = [];
  readonly warnings: string[] = [];
  constructor(
    readonly file: string,
    readonly lines: LineCounter,
  ) {}

  at(node: YamlNode | null | undefined): string {
    const offset = node?.range?.[0];
    if (offset === undefined) return this.file;
    const { line, col } = this.lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }

  add(key: string, message: string, node?: YamlNode | null): void {
    this.list.push({ source: this.at(node), key, message });
  }
}

type Entry = { key: string; node: YamlNode | null; keyNode: YamlNode | null };

const MAX_ALIAS_DEPTH = 8;

function deref(doc: Document, node: unknown, depth = 0): YamlNode | null {
  if (node === null || node === undefined) return null;
  if (node instanceof Alias) {
    if (depth >= MAX_ALIAS_DEPTH) return null;
    return deref(doc, node.resolve(doc), depth + 1);
  }
  return node as YamlNode;
}

const isNull = (node: YamlNode | null): boolean => node === null || (isScalar(node) && node.value === null);

/** The entries of a mapping (null or empty: none); an error when it is something else. */
function entries(doc: Document, node: YamlNode | null, key: string, p: Problems, what: string): Entry[] | null {
  if (isNull(node)) return [];
  if (!isMap(node)) {
    p.add(key, `must be a mapping (${what})`, node);
    return null;
  }
  const out: Entry[] = [];
  for (const pair of node.items) {
    const keyNode = deref(doc, pair.key);
    const k = scalarText(keyNode);
    if (k === null) {
      p.add(key, 'has a key that is not a plain value', keyNode ?? node);
      continue;
    }
    out.push({ key: k, node: deref(doc, pair.value), keyNode });
  }
  return out;
}

/** A scalar as Go's yaml.v2 reads it into a string: the text as written (1 → "1"); null for non-scalars. */
function scalarText(node: YamlNode | null): string | null {
  if (!isScalar(node)) return null;
  const v = node.value;
  if (v === null) return '';
  if (typeof v === 'string') return v;
  const source = (node as Scalar.Parsed).source;
  if (typeof source === 'string') return source;
  return typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : '';
}

function checkKeys(list: readonly Entry[], known: readonly string[], prefix: string, p: Problems): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const e of list) {
    const key = prefix + e.key;
    if (!known.includes(e.key)) {
      const near = known.find((k) => k.toLowerCase() === e.key.toLowerCase().replace(/-/g, '_'));
      p.add(key, `unknown key${near ? ` (did you mean "${near}"?)` : ` (known here: ${known.join(', ')})`}`, e.keyNode);
      continue;
    }
    out.set(e.key, e);
  }
  return out;
}

function str(e: Entry | undefined, key: string, p: Problems): string {
  if (!e || isNull(e.node)) return '';
  const s = scalarText(e.node);
  if (s === null) {
    p.add(key, 'must be a string', e.node);
    return '';
  }
  return s;
}

function bool(e: Entry | undefined, key: string, def: boolean, p: Problems): boolean {
  if (!e || isNull(e.node)) return def;
  if (isScalar(e.node) && typeof e.node.value === 'boolean') return e.node.value;
  p.add(key, `must be true or false, got ${JSON.stringify(scalarText(e.node) ?? 'a collection')}`, e.node);
  return def;
}

function strList(doc: Document, e: Entry | undefined, key: string, p: Problems): string[] | null {
  if (!e || isNull(e.node)) return null;
  if (!isSeq(e.node)) {
    p.add(key, 'must be a list of strings', e.node);
    return null;
  }
  const out: string[] = [];
  e.node.items.forEach((item, i) => {
    const n = deref(doc, item);
    const s = scalarText(n);
    if (s === null) p.add(`${key}[${i}]`, 'must be a string', n ?? e.node);
    else out.push(s);
  });
  return out;
}

// ---------------------------------------------------------------------------
// Files

/** The text of a file the web configuration names, or null after recording why it cannot be used. */
function readPem(file: string, key: string, node: YamlNode | null | undefined, p: Problems): string | null {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) {
      p.add(key, `${file} is not a regular file`, node);
      return null;
    }
    if (st.size > MAX_FILE_BYTES) {
      p.add(key, `${file} is larger than ${MAX_FILE_BYTES} bytes`, node);
      return null;
    }
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    p.add(
      key,
      `cannot read ${file}: ${e.code ?? e.message}${e.code === 'ENOENT' ? ' (no such file)' : e.code === 'EACCES' ? ' (permission denied)' : ''}`,
      node,
    );
    return null;
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificateInfo(c: crypto.X509Certificate): CertificateInfo {
  return { subject: c.subject.replace(/\n/g, ', '), serialNumber: c.serialNumber, validTo: c.validTo, fingerprint256: c.fingerprint256 };
}

// ---------------------------------------------------------------------------
// Sections

function parseTls(doc: Document, node: YamlNode | null, dir: string, p: Problems): TlsServerSettings | null {
  const list = entries(doc, node, 'tls_server_config', p, `with ${TLS_KEYS.join(', ')}`);
  if (list === null || list.length === 0) return null;
  const k = checkKeys(list, TLS_KEYS, 'tls_server_config.', p);
  const s = (name: (typeof TLS_KEYS)[number]): string => str(k.get(name), `tls_server_config.${name}`, p);
  const nodeOf = (name: (typeof TLS_KEYS)[number]): YamlNode | null => k.get(name)?.node ?? null;
  const resolve = (f: string): string => (path.isAbsolute(f) ? f : path.join(dir, f));
  const errorsBefore = p.list.length;

  // Certificate and key: a file, or inline PEM (newer exporter-toolkit), not both.
  const pem = (
    inline: 'cert' | 'key' | 'client_ca',
    fileKey: 'cert_file' | 'key_file' | 'client_ca_file',
  ): { text: string; key: string; node: YamlNode | null } | null => {
    const text = s(inline);
    const file = s(fileKey);
    if (text !== '' && file !== '') {
      p.add(`tls_server_config.${fileKey}`, `set ${fileKey} or ${inline}, not both`, nodeOf(fileKey));
      return null;
    }
    if (file !== '') {
      const read = readPem(resolve(file), `tls_server_config.${fileKey}`, nodeOf(fileKey), p);
      return read === null ? null : { text: read, key: `tls_server_config.${fileKey}`, node: nodeOf(fileKey) };
    }
    return text === '' ? null : { text, key: `tls_server_config.${inline}`, node: nodeOf(inline) };
  };
  const certSet = s('cert') !== '' || s('cert_file') !== '';
  const keySet = s('key') !== '' || s('key_file') !== '';
  if (!certSet) p.add('tls_server_config.cert_file', 'missing: TLS needs cert_file (or cert) and key_file (or key)', node);
  if (!keySet) p.add('tls_server_config.key_file', 'missing: TLS needs cert_file (or cert) and key_file (or key)', node);
  const cert = certSet ? pem('cert', 'cert_file') : null;
  const key = keySet ? pem('key', 'key_file') : null;
  const ca = pem('client_ca', 'client_ca_file');

  let x509: crypto.X509Certificate | null = null;
  if (cert) {
    try {
      x509 = new crypto.X509Certificate(cert.text);
    } catch (err) {
      p.add(cert.key, `not a PEM certificate (${(err as Error).message})`, cert.node);
    }
  }
  let privateKey: crypto.KeyObject | null = null;
  if (key) {
    try {
      privateKey = crypto.createPrivateKey(key.text);
    } catch (err) {
      p.add(key.key, `not an unencrypted PEM private key (${(err as Error).message})`, key.node);
    }
  }
  if (x509 && privateKey && cert && key && !x509.checkPrivateKey(privateKey)) {
    p.add(key.key, `does not match the certificate of ${cert.key} (subject ${x509.subject.replace(/\n/g, ', ')})`, key.node);
  }
  if (x509) {
    const now = Date.now();
    if (Date.parse(x509.validTo) < now) p.warnings.push(`tls_server_config: the certificate expired on ${x509.validTo}`);
    else if (Date.parse(x509.validFrom) > now) p.warnings.push(`tls_server_config: the certificate is not valid before ${x509.validFrom}`);
  }
  if (ca) {
    const blocks = ca.text.match(PEM_CERT) ?? [];
    if (blocks.length === 0) p.add(ca.key, 'holds no PEM certificate', ca.node);
    for (const [i, b] of blocks.entries()) {
      try {
        new crypto.X509Certificate(b);
      } catch (err) {
        p.add(ca.key, `certificate ${i + 1} is not valid (${(err as Error).message})`, ca.node);
      }
    }
  }

  // Client authentication.
  const authText = s('client_auth_type');
  let clientAuth: ClientAuthType = 'NoClientCert';
  if (authText === 'RequireClientCert')
    clientAuth = 'RequireAnyClientCert'; // exporter-toolkit's old name
  else if ((CLIENT_AUTH_TYPES as readonly string[]).includes(authText)) clientAuth = authText as ClientAuthType;
  else if (authText !== '')
    p.add(
      'tls_server_config.client_auth_type',
      `unknown value ${JSON.stringify(authText)} (one of ${CLIENT_AUTH_TYPES.join(', ')})`,
      nodeOf('client_auth_type'),
    );
  const caGiven = s('client_ca') !== '' || s('client_ca_file') !== '';
  if (caGiven && clientAuth === 'NoClientCert') {
    p.add(
      'tls_server_config.client_auth_type',
      'client_ca_file is set but client_auth_type asks for no client certificate (use RequireAndVerifyClientCert)',
      nodeOf('client_auth_type') ?? nodeOf('client_ca_file') ?? nodeOf('client_ca'),
    );
  }
  if (!caGiven && (clientAuth === 'VerifyClientCertIfGiven' || clientAuth === 'RequireAndVerifyClientCert')) {
    p.add(
      'tls_server_config.client_ca_file',
      `${clientAuth} needs client_ca_file (or client_ca): without it any certificate from a public CA would be accepted`,
      nodeOf('client_auth_type'),
    );
  }
  const sans = strList(doc, k.get('client_allowed_sans'), 'tls_server_config.client_allowed_sans', p);
  if (sans !== null && clientAuth === 'NoClientCert') {
    p.add(
      'tls_server_config.client_allowed_sans',
      'needs a client_auth_type that asks for a client certificate (RequireAndVerifyClientCert)',
      nodeOf('client_allowed_sans'),
    );
  }

  // Versions.
  const version = (name: 'min_version' | 'max_version', def: tls.SecureVersion): tls.SecureVersion => {
    const v = s(name);
    if (v === '') return def;
    const mapped = TLS_VERSIONS[v];
    if (mapped === undefined) p.add(`tls_server_config.${name}`, `unknown TLS version ${JSON.stringify(v)} (TLS10, TLS11, TLS12 or TLS13)`, nodeOf(name));
    return mapped ?? def;
  };
  const minVersion = version('min_version', 'TLSv1.2');
  const maxVersion = version('max_version', 'TLSv1.3');
  if (VERSION_ORDER.indexOf(maxVersion) < VERSION_ORDER.indexOf('TLSv1.2')) {
    p.add(
      'tls_server_config.max_version',
      "below TLS12: Node's OpenSSL negotiates TLS 1.0 and 1.1 only at security level 0, so no client could connect",
      nodeOf('max_version'),
    );
  } else if (VERSION_ORDER.indexOf(minVersion) > VERSION_ORDER.indexOf(maxVersion)) {
    p.add('tls_server_config.min_version', `${s('min_version')} is above max_version ${s('max_version')}`, nodeOf('min_version'));
  } else if (VERSION_ORDER.indexOf(minVersion) < VERSION_ORDER.indexOf('TLSv1.2')) {
    p.warnings.push(
      `tls_server_config.min_version: ${s('min_version')} is accepted, but Node's OpenSSL negotiates TLS 1.0 and 1.1 only at security level 0: TLS12 is the real minimum`,
    );
  }

  // Cipher suites and curves.
  let ciphers = tls.DEFAULT_CIPHERS;
  const suites = strList(doc, k.get('cipher_suites'), 'tls_server_config.cipher_suites', p);
  if (suites !== null && suites.length > 0) {
    const mapped: string[] = [];
    suites.forEach((name, i) => {
      const o = CIPHER_SUITES[name];
      if (o !== undefined) mapped.push(o);
      else if (UNAVAILABLE_CIPHER_SUITES.has(name))
        p.add(`tls_server_config.cipher_suites[${i}]`, `${name} is not available in Node's OpenSSL (3DES is disabled)`, nodeOf('cipher_suites'));
      else
        p.add(
          `tls_server_config.cipher_suites[${i}]`,
          `unknown cipher suite ${JSON.stringify(name)} (Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`,
          nodeOf('cipher_suites'),
        );
    });
    ciphers = mapped.join(':');
  }
  let ecdhCurve = tls.DEFAULT_ECDH_CURVE;
  const curves = strList(doc, k.get('curve_preferences'), 'tls_server_config.curve_preferences', p);
  if (curves !== null && curves.length > 0) {
    const mapped: string[] = [];
    curves.forEach((name, i) => {
      const o = CURVES[name];
      if (o !== undefined) mapped.push(o);
      else
        p.add(
          `tls_server_config.curve_preferences[${i}]`,
          `unknown curve ${JSON.stringify(name)} (${Object.keys(CURVES).join(', ')})`,
          nodeOf('curve_preferences'),
        );
    });
    ecdhCurve = mapped.join(':');
  }
  const honorCipherOrder = bool(k.get('prefer_server_cipher_suites'), 'tls_server_config.prefer_server_cipher_suites', true, p);

  if (p.list.length > errorsBefore || !cert || !key || !x509) return null;
  const context: TlsContextOptions = {
    cert: cert.text,
    key: key.text,
    minVersion,
    maxVersion,
    ciphers,
    ecdhCurve,
    honorCipherOrder,
    ...(ca ? { ca: ca.text } : {}),
  };
  try {
    tls.createSecureContext(context);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const field = e.code === 'ERR_SSL_NO_CIPHER_MATCH' ? 'cipher_suites' : /curve/i.test(e.message) ? 'curve_preferences' : '';
    p.add(`tls_server_config${field ? `.${field}` : ''}`, `not accepted by Node's OpenSSL: ${e.message}`, field ? nodeOf(field) : node);
    return null;
  }
  return { context, clientAuth, clientAllowedSans: sans, certificate: certificateInfo(x509) };
}

function parseHttp(doc: Document, node: YamlNode | null, p: Problems): Record<string, string> {
  const headers: Record<string, string> = {};
  const list = entries(doc, node, 'http_server_config', p, 'with http2, headers');
  if (list === null) return headers;
  const k = checkKeys(list, HTTP_KEYS, 'http_server_config.', p);
  bool(k.get('http2'), 'http_server_config.http2', true, p); // accepted; HTTP/1.1 only
  const h = k.get('headers');
  const hl = entries(doc, h?.node ?? null, 'http_server_config.headers', p, `of ${Object.keys(ALLOWED_HEADERS).join(', ')}`);
  for (const e of hl ?? []) {
    const key = `http_server_config.headers.${e.key}`;
    const allowed = ALLOWED_HEADERS[e.key];
    if (allowed === undefined) {
      p.add(
        key,
        `header ${JSON.stringify(e.key)} can not be configured (allowed: ${Object.keys(ALLOWED_HEADERS).join(', ')}; names as written here)`,
        e.keyNode,
      );
      continue;
    }
    const value = str(e, key, p);
    if (allowed !== null && !allowed.includes(value)) {
      p.add(key, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(value)}`, e.node);
      continue;
    }
    if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
      p.add(key, 'holds a character an HTTP header cannot carry (a control character or beyond Latin-1)', e.node);
      continue;
    }
    if (value !== '') headers[e.key] = value; // blank: unset, as exporter-toolkit documents
  }
  return headers;
}

function parseUsers(doc: Document, node: YamlNode | null, p: Problems): Map<string, string> {
  const users = new Map<string, string>();
  const list = entries(doc, node, 'basic_auth_users', p, 'of user: bcrypt hash');
  for (const e of list ?? []) {
    const key = `basic_auth_users.${e.key}`;
    const hash = str(e, key, p);
    const m = BCRYPT_HASH.exec(hash);
    const cost = m ? Number(m[1]) : 0;
    if (!m || cost < 4 || cost > 31) {
      // The value is a secret: never echoed.
      p.add(key, 'not a bcrypt hash ($2y$, $2b$ or $2a$ with a cost from 04 to 31, e.g. from htpasswd -nbB USER PASSWORD)', e.node);
      continue;
    }
    if (e.key.includes(':')) p.warnings.push(`${key}: a user name with ":" can never log in (basic authentication splits user and password at the first ":")`);
    if (cost > BCRYPT_WARN_COST) {
      const ms = BCRYPT_MS_AT_10 * 2 ** (cost - 10);
      p.warnings.push(
        `${key}: bcrypt cost ${cost}: a verification takes about ${ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`} of CPU here (bcrypt in JavaScript); an accepted password is cached, but a first scrape may time out`,
      );
    }
    users.set(e.key, hash);
  }
  return users;
}

function parseRateLimit(doc: Document, node: YamlNode | null, p: Problems): RateLimit | null {
  const list = entries(doc, node, 'rate_limit', p, 'with interval, burst');
  if (list === null || list.length === 0) return null;
  const k = checkKeys(list, RATE_KEYS, 'rate_limit.', p);
  const ie = k.get('interval');
  const itext = str(ie, 'rate_limit.interval', p);
  const intervalMs = itext === '' ? 0 : parseDuration(itext);
  if (intervalMs === null || intervalMs < 0) {
    p.add('rate_limit.interval', `not a duration: ${JSON.stringify(itext)} (e.g. "1s", "100ms"; 0 turns the limiter off)`, ie?.node);
    return null;
  }
  if (intervalMs === 0) return null;
  const be = k.get('burst');
  const burst = Number(str(be, 'rate_limit.burst', p));
  if (!Number.isSafeInteger(burst) || burst < 1) {
    p.add('rate_limit.burst', 'must be a whole number of at least 1 when interval is set (0 would refuse every request)', be?.node ?? node);
    return null;
  }
  return { intervalMs, burst };
}

// ---------------------------------------------------------------------------

/** Parses web configuration text (YAML). `file` names it in errors; relative paths are read from its directory. Throws ConfigError. */
export function parseWebConfig(text: string, file: string): WebConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, schema: 'yaml-1.1', uniqueKeys: true, prettyErrors: true, strict: true });
  const p = new Problems(file, lines);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ConfigError([{ source: pos ? `${file}:${pos.line}:${pos.col}` : file, key: '', message: `invalid YAML: ${e.message.split('\n')[0]}` }], {
      cause: e,
    });
  }
  const root = deref(doc, doc.contents);
  const top = entries(doc, root, '', p, `the top level, with ${TOP_KEYS.join(', ')}`);
  if (top === null) throw new ConfigError(p.list);
  const k = checkKeys(top, TOP_KEYS, '', p);
  const tlsSettings = parseTls(doc, k.get('tls_server_config')?.node ?? null, path.dirname(file), p);
  const headers = parseHttp(doc, k.get('http_server_config')?.node ?? null, p);
  const users = parseUsers(doc, k.get('basic_auth_users')?.node ?? null, p);
  const rateLimit = parseRateLimit(doc, k.get('rate_limit')?.node ?? null, p);
  if (p.list.length > 0) throw new ConfigError(p.list);
  if (users.size > 0 && !tlsSettings) p.warnings.push('basic_auth_users without tls_server_config: passwords cross the network in clear text');
  return Object.freeze({
    file,
    tls: tlsSettings,
    users,
    headers: Object.freeze(headers),
    rateLimit,
    warnings: Object.freeze([...p.warnings]),
  });
}

/**
 * Reads and checks a web configuration file; "" is plain HTTP. `setting` says
 * where the file name came from, for the "not found" message. Throws ConfigError
 * whose problems name the file (with line and column) and the key.
 */
export function loadWebConfig(file: string, setting = 'http.webConfigFile'): WebConfig {
  if (file === '') return PLAIN_WEB_CONFIG;
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
    if (st.size > MAX_FILE_BYTES) throw Object.assign(new Error(`larger than ${MAX_FILE_BYTES} bytes`), { code: 'EFBIG' });
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message = e.code === 'ENOENT' ? `web configuration file not found (${setting})` : `cannot read the web configuration file (${setting}): ${e.message}`;
    throw new ConfigError([{ source: file, key: '', message }], { cause: err });
  }
  return parseWebConfig(text, file);
}

/** A one-line summary for logs and `config check`. */
export function describeWebConfig(w: WebConfig): Record<string, unknown> {
  return {
    tls: w.tls !== null,
    ...(w.tls ? { clientAuth: w.tls.clientAuth, minVersion: w.tls.context.minVersion, certificate: w.tls.certificate } : {}),
    basicAuthUsers: w.users.size,
    headers: Object.keys(w.headers),
    ...(w.rateLimit ? { rateLimit: w.rateLimit } : {}),
  };
}

export interface WebConfigLoader {
  /** Loads the configuration, then the web configuration it names: a bad one fails the whole load (ConfigError). */
  load: (opts: LoadOptions) => LoadResult;
  /** The web configuration of the last load that succeeded. */
  current: () => WebConfig;
}

/**
 * Wraps the configuration loader of a ConfigHolder so that every load (start,
 * each SIGHUP) also reads the web configuration: a bad web configuration fails
 * the reload as a bad configuration does, and the last good pair stays.
 */
export function webConfigLoader(loadConfig: (opts: LoadOptions) => LoadResult): WebConfigLoader {
  let current: WebConfig = PLAIN_WEB_CONFIG;
  return {
    load: (opts) => {
      const result = loadConfig(opts);
      const source = result.sources['http.webConfigFile'];
      const web = loadWebConfig(result.config.http.webConfigFile, `http.webConfigFile${source && source !== 'default' ? `, from ${source}` : ''}`);
      current = web;
      return result;
    },
    current: () => current,
  };
}
