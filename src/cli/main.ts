#!/usr/bin/env node
/**
 * `scout`, the command line client (package.json `bin`). Wires the real process into program.ts;
 * the CLI is a client of the LAN API only and imports nothing of the server (a lint rule).
 */
import { run } from './program.js';

const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());
// A closed pipe (`scout list | head`) is the reader's choice, not an error worth a message.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
});

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  interrupt: interrupt.signal,
});
// exitCode, not exit(): let stdout drain into a pipe first.
process.exitCode = code;
