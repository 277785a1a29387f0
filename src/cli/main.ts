// argv → commands: check, netns, run, config check|print, version.
// Each command's modules are loaded when that command runs: `check` and
// `netns` never load the Kubernetes client (~70 MB of heap and seconds of
// start-up), and no command loads what another one needs.
import { createRequire } from 'node:module';
import type { Io } from './check.js';
import { ConfigError } from '../config/errors.js';
import { UsageError } from './usage.js';

const USAGE = `Usage: coredns-healthd <command> [options]

Commands:
  run          probe continuously; serve /metrics, /healthz and /status (what systemd starts)
  config       check or print the configuration ("config check", "config print")
  check        probe DNS once from every network namespace on this node, then exit
  netns        list the vantage points (network namespaces) on this node
  version      print the version

Run "coredns-healthd <command> --help" for a command's options.
`;

export function version(): string {
  const require = createRequire(import.meta.url);
  for (const p of ['../../package.json', '../../../package.json']) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      // the other layout (src/ or dist/src/)
    }
  }
  return 'unknown';
}

const defaultIo: Io = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check': {
        const { CHECK_USAGE, parseCheckArgs, resolveCheckOptions, runCheck } = await import('./check.js');
        const args = parseCheckArgs(rest);
        if (args === 'help') {
          io.stdout(CHECK_USAGE);
          return 0;
        }
        return await runCheck(resolveCheckOptions(args), io);
      }
      case 'netns':
        return await (await import('./netns.js')).runNetns(rest, io);
      case 'run':
        return await (await import('./run.js')).runDaemon(rest, io, { version: version() });
      case 'config':
        return (await import('./config.js')).runConfig(rest, io);
      case 'version':
      case '--version':
      case '-V':
        io.stdout(`coredns-healthd ${version()}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.stderr(`coredns-healthd: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr(`coredns-healthd: ${(err as Error).stack ?? String(err)}\n`);
    return 2;
  }
}
