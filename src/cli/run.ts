// `coredns-healthd run`: the daemon systemd starts. Exit codes: 0 after
// SIGTERM/SIGINT, 1 when it cannot start (HTTP address in use), 2 for a bad
// configuration or command line, or a kubeconfig that cannot be used.
import { ConfigError, loadConfigResult } from '../config/load.js';
import { ConfigHolder } from '../config/reloader.js';
import { Daemon } from '../daemon/daemon.js';
import { KubeConfigError } from '../kube/connection.js';
import { webConfigLoader } from '../http/web-config.js';
import { createLogger, type Logger } from '../log.js';
import type { Io } from './check.js';
import { CONFIG_OPTIONS_USAGE, parseConfigArgs, reportConfigError } from './config.js';

export const RUN_USAGE = `Usage: coredns-healthd run [options]

Probes cluster DNS continuously from every network namespace on this node
and serves /metrics, /healthz, /healthz/{host,pods,udp,tcp} and /status.
Logs are JSON lines on stdout. SIGHUP reloads the configuration and the web
configuration (a bad file keeps the last good ones); SIGTERM or SIGINT stop it.

Options:
${CONFIG_OPTIONS_USAGE}
`;

/** After a clean stop, anything still holding the event loop (a Docker socket mid-request) gets this long. */
const EXIT_GRACE_MS = 3_000;

export interface RunContext {
  version: string;
  /** Default: JSON lines on stdout at the configured level. */
  log?: Logger;
}

export async function runDaemon(argv: string[], io: Io, ctx: RunContext): Promise<number> {
  const args = parseConfigArgs(argv);
  if (args.help) {
    io.stdout(RUN_USAGE);
    return 0;
  }
  // Every load (start, SIGHUP) also reads the web configuration file (TLS, basic auth): a bad one fails it.
  const web = webConfigLoader(loadConfigResult);
  let holder: ConfigHolder;
  try {
    holder = new ConfigHolder({ ...args.load, load: web.load });
  } catch (err) {
    if (err instanceof ConfigError) return reportConfigError(err, io);
    throw err;
  }
  const c = holder.current;
  const log = ctx.log ?? createLogger({ level: c.log.level });
  if (ctx.log) log.setLevel(c.log.level);
  if (c.discovery.containers && process.geteuid?.() !== 0) {
    log.warn('not running as root: container network namespaces cannot be entered (CAP_SYS_ADMIN and CAP_SYS_PTRACE are needed)', { uid: process.geteuid?.() });
  }
  let daemon: Daemon;
  try {
    daemon = new Daemon({ holder, log, version: ctx.version, web: web.current });
  } catch (err) {
    if (!(err instanceof KubeConfigError)) throw err;
    log.error('cannot use the kubeconfig', { path: err.path, err });
    io.stderr(`coredns-healthd: ${err.message}\n`);
    return 2;
  }

  let signals = 0;
  const onStop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn('second stop signal: exiting now', { signal });
      process.exit(1);
    }
    // Not awaited: a signal handler cannot wait; run() itself awaits the daemon's end.
    void daemon.stop(signal);
  };
  const onHup = (): void => {
    daemon.reload();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  const removeHandlers = (): void => {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  };

  try {
    await daemon.start();
  } catch (err) {
    log.error('cannot start', { err });
    await daemon.stop('start failed');
    removeHandlers();
    return 1;
  }
  await daemon.done;
  removeHandlers();
  setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
  return 0;
}
