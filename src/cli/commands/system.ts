/**
 * @module
 * doctor, serve, stop, demo.
 */
import { DEFAULT_MAX_WORLDS, MAX_MAX_WORLDS } from '../../base/limits.js';
import { DaemonUnreachableError } from '../../client/errors.js';
import { type Command, intOption, need, UsageError } from '../command.js';
import { connect } from '../connect.js';
import { keyValues } from '../format.js';

export const doctor: Command = {
  name: 'doctor',
  summary: 'what this machine supports (isolation, limits, drivers) and the daemon in use',
  usage: 'world-runtime doctor',
  async run(ctx, _v, pos) {
    need(pos, [], 0);
    const r = await (await ctx.client()).dispatch({ kind: 'system.doctor' });
    if (ctx.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    ctx.out(
      keyValues([
        ['node', r.node],
        ['platform', r.platform],
        ['home', r.home],
        ['daemon', `pid ${r.daemon.pid}, version ${r.daemon.version}`],
        ['socket', r.daemon.socket],
        ['tcp', r.daemon.tcp ?? 'off (serve --listen 127.0.0.1:PORT)'],
        ['max worlds', r.daemon.maxWorlds],
        ['record', r.daemon.record ? 'DuckDB' : 'off'],
      ]),
    );
    for (const d of r.drivers) {
      ctx.out(`\ndriver ${String(d.driver)}: ${d.available ? 'available' : 'NOT available'}`);
      for (const note of (d.notes as string[] | undefined) ?? []) ctx.out(`  - ${note}`);
    }
    return 0;
  },
};

export const serve: Command = {
  name: 'serve',
  summary: 'run the daemon in the foreground (the CLI starts one by itself when needed)',
  usage: 'world-runtime serve [--listen 127.0.0.1:PORT] [--max-worlds N] [--driver process|microvm|e2b|morph] [--isolation MODE] [--fs BACKEND] [--no-record]',
  options: {
    listen: { type: 'string' },
    'max-worlds': { type: 'string' },
    driver: { type: 'string' },
    isolation: { type: 'string' },
    fs: { type: 'string' },
    'no-record': { type: 'boolean' },
  },
  help: `Serves the HTTP API on <home>/daemon.sock (mode 0600). Stops cleanly on SIGTERM or Ctrl-C: every world
is destroyed and the record flushed.
Options:
  --listen HOST:PORT   also serve loopback TCP (127.0.0.1 or ::1 only; port 0 picks one); every TCP
                       request needs Authorization: Bearer <token> (<home>/token or $WORLD_RUNTIME_TOKEN)
  --max-worlds N       live worlds allowed at once, 1 to ${MAX_MAX_WORLDS}; more answer 503 (default ${DEFAULT_MAX_WORLDS})
  --driver NAME        process (default), microvm (QEMU virtual machines; see world-runtime setup),
                       e2b (E2B sandboxes, at $E2B_API_URL/$E2B_SANDBOX_URL with $E2B_API_KEY; docs/remote.md)
                       or morph (Morph instances: $MORPH_API_KEY, $MORPH_BASE_URL)
  --isolation MODE     process driver sandbox: auto (default), world (a trust domain per world; root),
                       tree (one per fork tree; no root) or none (see docs/security.md)
  --fs BACKEND         process driver files: auto (default), btrfs, overlay or copy
  --no-record          keep no DuckDB record`,
  async run(ctx, v, pos) {
    need(pos, [], 0);
    const isolation = v.isolation;
    if (isolation !== undefined && !['auto', 'world', 'tree', 'none'].includes(isolation as string)) {
      throw new UsageError(`--isolation: expected auto, world, tree or none, got ${JSON.stringify(isolation)}`);
    }
    const fs = v.fs;
    if (fs !== undefined && !['auto', 'btrfs', 'overlay', 'copy'].includes(fs as string)) {
      throw new UsageError(`--fs: expected auto, btrfs, overlay or copy, got ${JSON.stringify(fs)}`);
    }
    const driver = v.driver;
    if (driver !== undefined && driver !== 'process' && driver !== 'microvm' && driver !== 'e2b' && driver !== 'morph') {
      throw new UsageError(`--driver: expected process, microvm, e2b or morph, got ${JSON.stringify(driver)}`);
    }
    // The executable runs the daemon (main.ts): every other command is a thin client.
    return ctx.host.serve({
      home: ctx.paths.home,
      ...(typeof v.listen === 'string' ? { listen: v.listen } : {}),
      maxWorlds: intOption(v, 'max-worlds', 1, MAX_MAX_WORLDS, DEFAULT_MAX_WORLDS) as number,
      ...(isolation ? { isolation: isolation as 'auto' | 'world' | 'tree' | 'none' } : {}),
      ...(fs ? { fs: fs as 'auto' | 'btrfs' | 'overlay' | 'copy' } : {}),
      ...(driver ? { driver: driver as 'process' | 'microvm' | 'e2b' | 'morph' } : {}),
      ...(v['no-record'] ? { record: false } : {}),
    });
  },
};

export const setup: Command = {
  name: 'setup',
  summary: 'prepare a driver: `setup microvm` fetches the guest kernel, builds the images and the template VM',
  usage: 'world-runtime setup microvm',
  help: `Builds the microvm driver's assets in <home>/microvm (also done on first use): Debian's kernel package
(apt-get download), an initramfs with the guest agent, a Python image, and a booted template VM whose
snapshot every create clones. Idempotent: only what changed is rebuilt.`,
  async run(ctx, _v, pos) {
    need(pos, ['DRIVER'], 1);
    if (pos[0] !== 'microvm') throw new UsageError(`setup: only the microvm driver needs setting up, got ${JSON.stringify(pos[0])}`);
    const { setupMicrovm } = await import('../../drivers/microvm/index.js');
    const t0 = Date.now();
    const assets = await setupMicrovm({ home: ctx.paths.home, onProgress: (m) => process.stderr.write(`setup: ${m}\n`) });
    ctx.out(ctx.json ? JSON.stringify(assets, null, 2) : `microvm ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${ctx.paths.home}/microvm)`);
    return 0;
  },
};

export const stop: Command = {
  name: 'stop',
  summary: 'stop the daemon of this home (worlds are destroyed)',
  usage: 'world-runtime stop',
  async run(ctx, _v, pos) {
    need(pos, [], 0);
    let client: Awaited<ReturnType<typeof connect>>;
    try {
      client = await connect({ paths: ctx.paths, autoStart: false });
    } catch (err) {
      if (err instanceof DaemonUnreachableError) {
        ctx.out(ctx.json ? JSON.stringify({ stopped: false, running: false }) : 'no daemon is running');
        return 0;
      }
      throw err;
    }
    const { pid } = await client.dispatch({ kind: 'system.health' });
    process.kill(pid, 'SIGTERM');
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000) {
      try {
        process.kill(pid, 0);
      } catch {
        ctx.out(ctx.json ? JSON.stringify({ stopped: true, pid }) : `stopped daemon ${pid}`);
        return 0;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`daemon ${pid} did not stop within 30 s`);
  },
};

const DRIVERS: readonly string[] = ['process', 'microvm', 'e2b', 'morph'];

export const demo: Command = {
  name: 'demo',
  summary: 'a guided tour: create, snapshot, branch into verses, compare (in the daemon: see it with world-runtime ui)',
  usage: 'world-runtime demo [--driver process|microvm|e2b|morph]',
  options: { driver: { type: 'string' } },
  help: `Tells the whole story in the daemon of the home, starting one when none answers; its worlds stay there
for world-runtime ui, ls and verses (end them with world-runtime stop).
Options:
  --driver NAME        the driver of a daemon the demo starts (see world-runtime serve --help); a daemon
                       already serving the home with another driver is an error`,
  async run(ctx, v, pos) {
    need(pos, [], 0);
    const driver = v.driver;
    if (driver !== undefined && !DRIVERS.includes(driver as string)) {
      throw new UsageError(`--driver: expected ${DRIVERS.join(', ')}, got ${JSON.stringify(driver)}`);
    }
    const { runDemo } = await import('../demo.js');
    const client = await ctx.client(driver ? { serveArgs: ['--driver', driver as string] } : {});
    await runDemo({ client, out: ctx.out, ...(driver ? { driver: driver as string } : {}) });
    return 0;
  },
};
