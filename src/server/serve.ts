/**
 * @module
 * `world-runtime serve`: run the daemon in the foreground until SIGTERM, SIGINT or SIGHUP, then shut down
 * cleanly (worlds destroyed, record flushed, socket and pid file removed). A second signal exits at once.
 */
import { VERSION } from '../base/version.js';
import { Daemon, type DaemonOptions } from './daemon.js';

/** Longest a clean shutdown may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 20_000;

export interface ServeOptions extends DaemonOptions {
  /** Where log lines go. @default stdout */
  out?: (line: string) => void;
}

/** Start the daemon and resolve with the exit code once it has shut down. */
export async function serve(options: ServeOptions = {}): Promise<number> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const daemon = await Daemon.start({ ...options, log: options.log ?? out });
  out(
    `world-runtime ${VERSION} daemon ready: pid ${process.pid}, home ${daemon.home}, socket ${daemon.socketPath}${daemon.tcpUrl ? `, tcp ${daemon.tcpUrl} (bearer token in ${daemon.paths.token})` : ''}`,
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string, code: number) => {
      if (stopping) {
        out(`${why} again: exiting without cleaning up`);
        process.exit(130);
      }
      stopping = true;
      out(`${why}: shutting down`);
      const force = setTimeout(() => {
        out(`shutdown took over ${SHUTDOWN_GRACE_MS} ms: exiting`);
        process.exit(1);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      daemon.close().then(
        () => {
          out('stopped');
          resolve(code);
        },
        (err: Error) => {
          out(`error while shutting down: ${err.message}`);
          resolve(1);
        },
      );
    };
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => stop(sig, 0));
    process.on('uncaughtException', (err) => {
      out(`uncaught exception: ${err.stack ?? err.message}`);
      stop('uncaught exception', 1);
    });
    process.on('unhandledRejection', (reason) => {
      out(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
    });
  });
}
