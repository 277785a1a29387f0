// resolv.conf of the container (<procRoot>/<pid>/root/etc/resolv.conf, the
// file its libc reads): nameservers present and, for ClusterFirst pods, the
// cluster DNS; the search list within resolver limits; the nameserver it
// points at answering when other servers do; and, when DNS from the vantage
// fails, the resolver options that decide how long a lookup then takes.
import { CONTAINER_FILE_MAX } from '../netns/container-file.js';
import { MAX_ITEMS, capCounted } from '../text/untrusted.js';
import type { KubeFacts, ResolvConfRead, SweepRow, Vantage } from '../model.js';
import { plural, vantageFinding, type Finding } from './finding.js';
import { canonicalIp } from './ip.js';
import { podFor, usesClusterDns } from './kube-facts.js';
import { byTarget, describeTarget, outcome, reasonSummary } from './rows.js';

/** Dropped search domains a message names (then "and N more"). */
const MAX_DROPPED_NAMED = 3;

/** The limits of older glibc (before 2.26) and of the kubelet before Kubernetes 1.28. */
export const MAX_SEARCH_DOMAINS = 6;
/** The search buffer of older glibc and musl (256 bytes with its terminator). */
export const MAX_SEARCH_CHARS = 256;

export interface ResolvConfContext {
  kube?: KubeFacts | undefined;
  /** diagnose.nodeLocalDns */
  nodeLocalDns: readonly string[];
}

/**
 * The resolv.conf check for one vantage. `rows` are the vantage's own rows
 * of the sweep (possibly none).
 */
export function checkResolvConf(v: Vantage, read: ResolvConfRead, rows: readonly SweepRow[], ctx: ResolvConfContext): Finding[] {
  const findings: Finding[] = [];
  const file = read.path;
  if (read.error?.code === 'EFBIG') {
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/too-large',
        severity: 'warning',
        message: `${read.error.message}: the nameservers of this vantage are not probed and its resolver configuration is unknown (the kubelet writes a few hundred bytes).`,
        evidence: { file, code: read.error.code, size: read.error.size ?? 0, limit: CONTAINER_FILE_MAX },
      }),
    );
    return findings;
  }
  if (read.error) {
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/unreadable',
        severity: 'error',
        message:
          read.error.code === 'ENOENT'
            ? `${file} does not exist: the resolver of this container has no nameserver and queries 127.0.0.1.`
            : `${read.error.message}: the resolver configuration of this container is unknown.`,
        evidence: { file, code: read.error.code, ...(read.error.fileType ? { fileType: read.error.fileType } : {}) },
      }),
    );
    return findings;
  }
  const rc = read.parsed;
  const nameservers = rc.nameservers.map((n) => n.address);
  const options = { ndots: rc.options.ndots, timeout: rc.options.timeout, attempts: rc.options.attempts, other: rc.options.other };
  // Every finding below carries this: the search list as its first MAX_ITEMS
  // domains (capped) and a count of the rest, never the whole list (a 1 MB
  // search line would otherwise be copied into each finding).
  const search = capCounted(rc.search, rc.searchCount, MAX_ITEMS);
  const base = { file, nameservers, search, options };

  // Line-level problems only; the file-level ones have findings of their own.
  const lineProblems = rc.warnings.filter((w) => w.startsWith('line '));
  if (lineProblems.length > 0) {
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/malformed',
        severity: 'warning',
        message: `${file}: ${lineProblems[0]}${rc.lineWarningCount > 1 ? ` (and ${plural(rc.lineWarningCount - 1, 'more problem')})` : ''}.`,
        evidence: { ...base, problems: lineProblems.slice(0, 20) },
      }),
    );
  }
  if (nameservers.length === 0) {
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/no-nameserver',
        severity: 'error',
        message: `${file} names no valid nameserver: glibc and musl then query 127.0.0.1, where nothing answers in a pod.`,
        evidence: base,
      }),
    );
  }
  if (rc.ignoredNameservers.length > 0) {
    const ignored = rc.ignoredNameservers.map((n) => n.address);
    const more = rc.ignoredCount - ignored.length; // past the parser's cap
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/ignored-nameservers',
        severity: 'warning',
        message: `${file} names ${plural(nameservers.length + rc.ignoredCount, 'nameserver')}; resolvers use only the first 3 and ignore ${ignored.join(', ')}${more > 0 ? ` and ${more} more` : ''}.`,
        evidence: { ...base, ignored, ignoredCount: rc.ignoredCount },
      }),
    );
  }

  const pod = podFor(v, ctx.kube);
  const serviceIps = (ctx.kube?.dnsServiceIps ?? []).map(canonicalIp);
  if (pod && usesClusterDns(pod) && serviceIps.length > 0 && nameservers.length > 0) {
    const local = ctx.nodeLocalDns.map(canonicalIp);
    const expected = new Set([...serviceIps, ...local]);
    const unexpected = nameservers.filter((n) => !expected.has(canonicalIp(n)));
    if (unexpected.length > 0) {
      const wanted = `the cluster DNS Service IP ${serviceIps.join(', ')}${local.length ? ` or node-local DNS ${local.join(', ')}` : ''}`;
      const none = unexpected.length === nameservers.length;
      findings.push(
        vantageFinding(v, {
          code: 'resolv-conf/not-cluster-dns',
          severity: none ? 'error' : 'warning',
          message: none
            ? `Pod ${pod.namespace}/${pod.name} has dnsPolicy ${pod.dnsPolicy}, but ${file} names ${unexpected.join(', ')}, not ${wanted}: it does not resolve cluster names.`
            : `Pod ${pod.namespace}/${pod.name} has dnsPolicy ${pod.dnsPolicy}, but ${file} also names ${unexpected.join(', ')}, which is not ${wanted}.`,
          evidence: { ...base, dnsPolicy: pod.dnsPolicy, unexpected, expected: [...expected] },
        }),
      );
    }
  }

  // A nameserver of this file fails from here while another server answers
  // from here. Not for the cluster DNS Service or node-local DNS: those are
  // the right servers, and the path check explains their failures.
  const known = new Set([...serviceIps, ...ctx.nodeLocalDns.map(canonicalIp)]);
  const targets = byTarget(rows);
  const answering = [...targets.values()].filter((list) => outcome(list) === 'ok' || outcome(list) === 'mixed').map((list) => list[0]!.target);
  for (const list of targets.values()) {
    const t = list[0]!.target;
    if (t.source !== 'resolv.conf' || outcome(list) !== 'fail' || known.has(canonicalIp(t.server))) continue;
    const others = answering.filter((a) => a.server !== t.server || a.port !== t.port);
    if (others.length === 0) continue;
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/nameserver-fails',
        severity: 'error',
        subject: t.server,
        message: `Nameserver ${t.server} from ${file} fails from this vantage (${reasonSummary(list)}) while ${others.map(describeTarget).join(', ')} answers: resolv.conf points at the wrong server, or the path to that one server is broken.`,
        evidence: { ...base, server: t.server, reasons: reasonSummary(list), answering: others.map(describeTarget) },
      }),
    );
  }

  // rc.search keeps the first domains only; searchCount and searchLength describe the whole list.
  if (rc.searchCount > MAX_SEARCH_DOMAINS) {
    const dropped = rc.search.slice(MAX_SEARCH_DOMAINS);
    const named = dropped.slice(0, MAX_DROPPED_NAMED); // in the message; the evidence has the kept ones
    const more = rc.searchCount - MAX_SEARCH_DOMAINS - named.length;
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/search-too-many',
        severity: 'warning',
        message: `${file} has ${rc.searchCount} search domains: glibc before 2.26 (and the kubelet before Kubernetes 1.28) keeps only the first ${MAX_SEARCH_DOMAINS}, so short names under ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''} are not found.`,
        evidence: { ...base, count: rc.searchCount, limit: MAX_SEARCH_DOMAINS, dropped, droppedCount: rc.searchCount - MAX_SEARCH_DOMAINS },
      }),
    );
  }
  const searchChars = rc.searchLength;
  if (searchChars >= MAX_SEARCH_CHARS) {
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/search-too-long',
        severity: 'warning',
        message: `The search list of ${file} is ${searchChars} characters long: musl and glibc before 2.26 keep only the first ${MAX_SEARCH_CHARS - 1}, cutting domains off.`,
        evidence: { ...base, characters: searchChars, limit: MAX_SEARCH_CHARS - 1 },
      }),
    );
  }

  if (rows.some((r) => !r.result.ok)) {
    const o = rc.options;
    const servers = Math.max(1, nameservers.length);
    const worst = o.timeout * o.attempts * servers;
    const tries =
      rc.searchCount > 0 ? `; a name with fewer than ${o.ndots} dots is tried with each of the ${plural(rc.searchCount, 'search domain')} first` : '';
    findings.push(
      vantageFinding(v, {
        code: 'resolv-conf/options',
        severity: 'info',
        message: `Resolver options: ndots ${o.ndots}, timeout ${o.timeout} s, attempts ${o.attempts}, ${plural(nameservers.length, 'nameserver')}: a lookup whose servers do not answer takes up to ${worst} s${tries}.`,
        evidence: { ...base, worstCaseSeconds: worst },
      }),
    );
  }
  return findings;
}
