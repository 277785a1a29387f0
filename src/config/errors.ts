// Configuration errors: each problem names where the value came from (the
// file, "environment COREDNS_HEALTHD_X", "flag --x") and the key.

export interface ConfigProblem {
  /** The file (with ":line:column" for syntax errors), "environment NAME", "flag --name", or "default". */
  readonly source: string;
  /** The setting, e.g. "discovery.docker.socketPath" or "queries[0].type"; '' when none applies. */
  readonly key: string;
  readonly message: string;
}

export const formatProblem = (p: ConfigProblem): string => `${p.source}: ${p.key ? `${p.key}: ` : ''}${p.message}`;

/** A configuration that cannot be used. The process exits with `exitCode` (2, a usage error). */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  readonly exitCode = 2;
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super(problems.map(formatProblem).join('\n'), options);
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}
