#!/usr/bin/env node
/**
 * @module
 * The `world-runtime` executable: a client of the daemon (started on demand; see app.ts and docs/cli.md),
 * and, for `world-runtime serve`, the daemon itself. This file is where the two meet: the only one of
 * src/cli that names src/server, and only to load the daemon (drivers, DuckDB) for that one command.
 */
import { main } from './app.js';

// EPIPE (output piped into `head`) is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
});

const code = await main(process.argv.slice(2), {
  serve: async (request) => (await import('../server/serve.js')).serve(request),
});
// Exit once output has drained: idle keep-alive sockets must not hold the process (serve resolves only
// after its clean shutdown).
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
