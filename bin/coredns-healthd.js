#!/usr/bin/env node
// Entry point installed as `coredns-healthd`: runs the compiled CLI, on Node.js 20 or later
// (checked first: on an older Node the CLI would fail somewhere less clear).
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(`coredns-healthd: needs Node.js 20 or later, this is ${process.version} (${process.execPath})\n`);
  process.exit(2);
}
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
