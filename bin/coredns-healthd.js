#!/usr/bin/env node
// Entry point installed as `coredns-healthd`: runs the compiled CLI.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
