/**
 * @module
 * `world-runtime ui`: a one-time login link to the daemon's web view (the daemon starts its loopback TCP
 * listener if it has none), opened in a browser where there is one. The link is the last line of stdout.
 */
import { spawn } from 'node:child_process';
import { graphicalSession } from '../../base/config.js';
import { type Command, need } from '../command.js';

/** The system's opener of URLs, or null where there is none to use (no graphical session on Linux). */
function opener(): string | null {
  if (process.platform === 'darwin') return 'open';
  if (process.platform === 'linux' && graphicalSession()) return 'xdg-open';
  return null;
}

/** Start the browser on `url` and leave it; resolves with whether the opener could be started. */
function openUrl(command: string, url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, [url], { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

export const ui: Command = {
  name: 'ui',
  summary: 'the web view of the multiverse: prints a one-time login link (and opens it where a browser exists)',
  usage: 'world-runtime ui [--no-open] [--listen 127.0.0.1:PORT]',
  options: {
    'no-open': { type: 'boolean' },
    listen: { type: 'string' },
  },
  help: `Serves the live tree of worlds, snapshots, verses and balances at /ui on the daemon's loopback TCP
listener, starting one when the daemon has none. The link holds a one-time code: opening it gives the
browser a session cookie for the view (the daemon's token never goes into a URL); it is good for one
visit, within two minutes. Run the command again for another.
Options:
  --no-open            only print the link
  --listen HOST:PORT   where to start the TCP listener when the daemon has none (loopback only;
                       default 127.0.0.1 on any free port)`,
  async run(ctx, v, pos) {
    need(pos, [], 0);
    const client = await ctx.client();
    const r = await client.dispatch({ kind: 'ui.login', ...(typeof v.listen === 'string' ? { listen: v.listen } : {}) });
    const command = v['no-open'] ? null : opener();
    const opened = command !== null && (await openUrl(command, r.url));
    if (ctx.json) {
      ctx.out(JSON.stringify({ ...r, opened }));
      return 0;
    }
    const until = new Date(r.expiresAt).toLocaleTimeString();
    ctx.out(`web view on ${r.tcp}/ui/ — the link is good for one visit, until ${until}${opened ? ` (opened with ${command})` : ''}:`);
    ctx.out(r.url);
    return 0;
  },
};
