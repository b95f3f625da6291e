/**
 * @module
 * Commands on worlds and snapshots: create, exec, run, snapshot, branch, destroy, ls.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_DISK_MIB, MAX_BRANCH_COUNT, MAX_DISK_MIB, MAX_MEMORY_MIB, MAX_TIMEOUT_MS, MAX_VCPUS } from '../../base/limits.js';
import type { DaemonClient } from '../../client/client.js';
import type { ExecReply, RunReply, SnapshotInfo, WorldInfo } from '../../protocol/results.js';
import { type Command, type Context, intOption, need, parseMeta, parseTrit, UsageError } from '../command.js';
import { bytes, keyValues, ms, table, time, trit } from '../format.js';
import { withProgress } from '../progress.js';

function worldRows(worlds: WorldInfo[]): string {
  return table(
    ['ID', 'STATE', 'TRIT', 'PARENT', 'SNAPSHOT', 'BOOT', 'DISK', 'MEMORY', 'CREATED'],
    worlds.map((w) => [
      w.id,
      w.state,
      trit(w.trit),
      w.parentId,
      w.snapshotId,
      ms(w.bootTimeMs),
      bytes(w.usage?.diskBytes),
      bytes(w.usage?.memoryBytes),
      time(w.createdAt),
    ]),
  );
}

function showWorld(ctx: Context, w: WorldInfo, quiet: boolean): void {
  if (ctx.json) {
    ctx.out(JSON.stringify(w, null, 2));
    return;
  }
  if (quiet) {
    ctx.out(w.id);
    return;
  }
  ctx.out(
    keyValues([
      ['id', w.id],
      ['state', w.state],
      ['trit', trit(w.trit)],
      ['parent', w.parentId],
      ['snapshot', w.snapshotId],
      ['memory', `${w.memoryMib} MiB${w.usage?.memoryBytes != null ? ` (using ${bytes(w.usage.memoryBytes)})` : ''}`],
      ['disk', `${w.diskMib} MiB${w.usage?.diskBytes != null ? ` (wrote ${bytes(w.usage.diskBytes)})` : ''}`],
      ['vcpus', w.vcpus],
      ['boot', ms(w.bootTimeMs)],
      ['metadata', Object.keys(w.metadata).length ? w.metadata : null],
      ...(w.failure ? ([['failure', w.failure]] as [string, unknown][]) : []),
    ]),
  );
}

function showWorlds(ctx: Context, worlds: WorldInfo[], quiet: boolean): void {
  if (ctx.json) {
    ctx.out(JSON.stringify({ worlds }, null, 2));
    return;
  }
  if (quiet) {
    ctx.out(worlds.map((w) => w.id).join('\n'));
    return;
  }
  ctx.out(worldRows(worlds));
}

/** Code from the argument, `--file`, or stdin (`-` or nothing, when stdin is not a terminal). */
function readCode(positional: string | undefined, file: string | undefined): string {
  if (file !== undefined) {
    if (positional !== undefined) throw new UsageError('give the code as an argument or with --file, not both');
    return readFileSync(file, 'utf8');
  }
  if (positional !== undefined && positional !== '-') return positional;
  if (positional === undefined && process.stdin.isTTY) throw new UsageError('missing <code> (or pass --file, or pipe the code on stdin)');
  return readFileSync(0, 'utf8');
}

const QUIET = { quiet: { type: 'boolean', short: 'q' } } as const;

/** The id `last`: the newest live world (or snapshot). Lets the justfile's recipes chain without copying ids. */
export const LAST = 'last';

function newest<T extends { createdAt: string }>(items: T[]): T | undefined {
  return [...items].sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1);
}

/** A world id, with `last` resolved to the newest running world. */
export async function worldId(client: DaemonClient, id: string): Promise<string> {
  if (id !== LAST) return id;
  const w = newest((await client.dispatch({ kind: 'world.list' })).worlds.filter((x) => x.state === 'running'));
  if (!w) throw new UsageError('"last": no running world yet (create one with world-runtime create)');
  return w.id;
}

/** A branch source, with `last` resolved to the newest snapshot, else the newest running world. */
async function sourceId(client: DaemonClient, id: string): Promise<string> {
  if (id !== LAST) return id;
  const s = newest((await client.dispatch({ kind: 'snapshot.list' })).snapshots);
  return s ? s.id : worldId(client, LAST);
}

export const create: Command = {
  name: 'create',
  summary: 'create a world (or start one from a snapshot with --from)',
  usage: 'world-runtime create [--trit=T] [--memory MIB] [--disk MIB] [--vcpus N] [--meta KEY=VALUE]... [--from SOURCE] [-q]',
  options: {
    trit: { type: 'string' },
    memory: { type: 'string' },
    disk: { type: 'string' },
    vcpus: { type: 'string' },
    meta: { type: 'string', multiple: true },
    from: { type: 'string' },
    ...QUIET,
  },
  help: `Options:
  --trit=T            -1, 0 or 1 (write --trit=-1: a bare -1 reads as an option)
  --memory MIB        memory limit in MiB, 1 to ${MAX_MEMORY_MIB} (default 512)
  --disk MIB          disk limit in MiB (its files and /tmp), 1 to ${MAX_DISK_MIB} (default ${DEFAULT_DISK_MIB})
  --vcpus N           virtual CPUs to record, 1 to ${MAX_VCPUS} (default 1)
  --meta KEY=VALUE    metadata; VALUE is JSON if it parses, else a string (repeatable)
  --from SOURCE       start the world from a snapshot (s-...) or a running world (w-...) instead of fresh
  -q, --quiet         print only the new world's id`,
  async run(ctx, v, pos) {
    need(pos, [], 0);
    const client = await ctx.client();
    const metadata = parseMeta(v.meta as string[] | undefined);
    const t = typeof v.trit === 'string' ? parseTrit('--trit', v.trit) : undefined;
    let world: WorldInfo;
    if (typeof v.from === 'string') {
      if (v.memory !== undefined || v.vcpus !== undefined || v.disk !== undefined)
        throw new UsageError('--memory, --disk and --vcpus come from the source with --from');
      const from = await sourceId(client, v.from);
      const fields = { count: 1, ...(t !== undefined ? { trits: [t] } : {}), ...(metadata ? { metadata } : {}) };
      const r = await withProgress(`starting a world from ${from}`, () => client.dispatch({ kind: 'branch', source: from, ...fields }));
      world = r.worlds[0] as WorldInfo;
    } else {
      const memoryMib = intOption(v, 'memory', 1, MAX_MEMORY_MIB);
      const diskMib = intOption(v, 'disk', 1, MAX_DISK_MIB);
      const vcpus = intOption(v, 'vcpus', 1, MAX_VCPUS);
      world = await withProgress('creating a world', () =>
        client.dispatch({
          kind: 'world.create',
          ...(t !== undefined ? { trit: t } : {}),
          ...(memoryMib !== undefined ? { memoryMib } : {}),
          ...(diskMib !== undefined ? { diskMib } : {}),
          ...(vcpus !== undefined ? { vcpus } : {}),
          ...(metadata ? { metadata } : {}),
        }),
      );
    }
    showWorld(ctx, world, v.quiet === true);
    return 0;
  },
};

export const exec: Command = {
  name: 'exec',
  summary: 'run Python in a world, streaming its output',
  usage: 'world-runtime exec <world> [<code> | -] [--file FILE] [--timeout MS]',
  options: { file: { type: 'string', short: 'f' }, timeout: { type: 'string' } },
  help: `Runs in the world's persistent interpreter (variables and imports stay). Output streams as it is
produced; the repr of a trailing expression is printed last. Exits 1 if the code raised.
Options:
  -f, --file FILE   read the code from FILE (or pass - / pipe it on stdin)
  --timeout MS      interrupt after MS milliseconds, 1 to ${MAX_TIMEOUT_MS} (24 h; default 300000)`,
  async run(ctx, v, pos) {
    const [id, codeArg] = need(pos, ['world'], 2);
    const code = readCode(codeArg, v.file as string | undefined);
    const timeoutMs = intOption(v, 'timeout', 1, MAX_TIMEOUT_MS);
    const client = await ctx.client();
    const action = { kind: 'world.exec', id: await worldId(client, id as string), code, ...(timeoutMs !== undefined ? { timeoutMs } : {}) } as const;
    let r: ExecReply;
    if (ctx.json) {
      r = await client.dispatch(action);
      ctx.out(JSON.stringify(r, null, 2));
    } else {
      let lastOut = '';
      r = await client.dispatch(action, {
        onOutput: (stream, chunk) => {
          if (stream === 'stdout') lastOut = chunk;
          ctx.write(stream, chunk);
        },
      });
      if (r.value !== null) {
        if (lastOut !== '' && !lastOut.endsWith('\n')) ctx.write('stdout', '\n');
        ctx.out(r.value);
      }
      if (r.error) ctx.write('stderr', r.error.traceback || `${r.error.type}: ${r.error.message}\n`);
      if (r.truncated) ctx.err('world-runtime: output was truncated at the cap');
    }
    return r.error ? 1 : 0;
  },
};

export const run: Command = {
  name: 'run',
  summary: "run a command in a world's directory, streaming its output",
  usage: 'world-runtime run <world> [--cwd DIR] [--env KEY=VALUE]... [--timeout MS] [--] <command> [args...]',
  options: { cwd: { type: 'string' }, env: { type: 'string', multiple: true }, timeout: { type: 'string' } },
  help: `One argument after <world> runs through /bin/sh -c; several run as an argv array. Put -- before a
command that has options of its own. Exits with the command's exit code.
Options:
  --cwd DIR          working directory inside the world's directory
  --env KEY=VALUE    extra environment (repeatable)
  --timeout MS       kill after MS milliseconds, 1 to ${MAX_TIMEOUT_MS} (24 h; default 300000)`,
  async run(ctx, v, pos) {
    const [id, ...argv] = need(pos, ['world', 'command'], Number.POSITIVE_INFINITY);
    const env: Record<string, string> = {};
    for (const pair of (v.env as string[] | undefined) ?? []) {
      const i = pair.indexOf('=');
      if (i <= 0) throw new UsageError(`--env: expected KEY=VALUE, got ${JSON.stringify(pair)}`);
      env[pair.slice(0, i)] = pair.slice(i + 1);
    }
    const timeoutMs = intOption(v, 'timeout', 1, MAX_TIMEOUT_MS);
    const client = await ctx.client();
    const action = {
      kind: 'world.run',
      id: await worldId(client, id as string),
      command: argv.length === 1 ? (argv[0] as string) : argv,
      ...(typeof v.cwd === 'string' ? { cwd: v.cwd } : {}),
      ...(Object.keys(env).length ? { env } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    } as const;
    let r: RunReply;
    if (ctx.json) {
      r = await client.dispatch(action);
      ctx.out(JSON.stringify(r, null, 2));
    } else {
      r = await client.dispatch(action, { onOutput: (stream, chunk) => ctx.write(stream, chunk) });
      if (r.timedOut) ctx.err(`world-runtime: the command timed out and was killed`);
      else if (r.signal) ctx.err(`world-runtime: the command was killed by ${r.signal}`);
    }
    return r.exitCode ?? 1;
  },
};

export const snapshot: Command = {
  name: 'snapshot',
  summary: "freeze a world's memory and files (the world keeps running)",
  usage: 'world-runtime snapshot <world> [--name NAME] [-q]',
  options: { name: { type: 'string' }, ...QUIET },
  help: `Options:
  --name NAME   a label for the snapshot
  -q, --quiet   print only the snapshot id`,
  async run(ctx, v, pos) {
    const client = await ctx.client();
    const id = await worldId(client, need(pos, ['world'])[0] as string);
    const s = await withProgress(`snapshotting ${id}`, () =>
      client.dispatch({ kind: 'world.snapshot', id, ...(typeof v.name === 'string' ? { name: v.name } : {}) }),
    );
    if (ctx.json) ctx.out(JSON.stringify(s, null, 2));
    else if (v.quiet) ctx.out(s.id);
    else
      ctx.out(
        keyValues([
          ['id', s.id],
          ['world', s.worldId],
          ['name', s.name],
          ['state', s.state],
          ['snapshot', ms(s.snapshotTimeMs)],
        ]),
      );
    return 0;
  },
};

export const branch: Command = {
  name: 'branch',
  summary: 'start N worlds from a snapshot (s-...) or from a running world (w-...)',
  usage: 'world-runtime branch <snapshot|world> [--count N] [--trits=T,T,...] [--meta KEY=VALUE]... [--same-random] [-q]',
  options: {
    count: { type: 'string', short: 'n' },
    trits: { type: 'string' },
    meta: { type: 'string', multiple: true },
    'same-random': { type: 'boolean' },
    ...QUIET,
  },
  help: `Options:
  -n, --count N       how many worlds, 1 to ${MAX_BRANCH_COUNT} (default: the number of --trits, else 1)
  --trits=T,T,...     one trit per world, e.g. --trits=-1,0,1
  --meta KEY=VALUE    metadata for every new world (repeatable)
  --same-random       keep the source's random streams (default: reseed each branch)
  -q, --quiet         print only the new ids, one per line`,
  async run(ctx, v, pos) {
    const [given] = need(pos, ['snapshot|world']);
    const trits = typeof v.trits === 'string' ? v.trits.split(',').map((t, i) => parseTrit(`--trits[${i}]`, t)) : undefined;
    const count = intOption(v, 'count', 1, MAX_BRANCH_COUNT, trits?.length ?? 1) as number;
    if (trits && trits.length !== count) throw new UsageError(`--trits has ${trits.length} values but --count is ${count}`);
    const metadata = parseMeta(v.meta as string[] | undefined);
    const fields = { count, ...(trits ? { trits } : {}), ...(metadata ? { metadata } : {}), ...(v['same-random'] ? { sameRandom: true } : {}) };
    const client = await ctx.client();
    const source = await sourceId(client, given as string);
    const r = await withProgress(`branching ${count} world${count === 1 ? '' : 's'} from ${source}`, () =>
      client.dispatch({ kind: 'branch', source, ...fields }),
    );
    showWorlds(ctx, r.worlds, v.quiet === true);
    return 0;
  },
};

export const destroy: Command = {
  name: 'destroy',
  summary: 'destroy worlds (w-...) and snapshots (s-...)',
  usage: 'world-runtime destroy <id>...',
  async run(ctx, _v, pos) {
    if (pos.length === 0) throw new UsageError('missing <id>');
    const client = await ctx.client();
    const done = [];
    for (const given of pos) {
      const id = await worldId(client, given);
      done.push(await (id.startsWith('s-') ? client.dispatch({ kind: 'snapshot.destroy', id }) : client.dispatch({ kind: 'world.destroy', id })));
    }
    if (ctx.json) ctx.out(JSON.stringify({ destroyed: done }, null, 2));
    else ctx.out(done.map((d) => `${d.id} destroyed`).join('\n'));
    return 0;
  },
};

export const ls: Command = {
  name: 'ls',
  summary: 'list the live worlds and snapshots in the daemon',
  usage: 'world-runtime ls',
  async run(ctx, _v, pos) {
    need(pos, [], 0);
    const client = await ctx.client();
    const [{ worlds }, { snapshots }] = await Promise.all([client.dispatch({ kind: 'world.list' }), client.dispatch({ kind: 'snapshot.list' })]);
    if (ctx.json) {
      ctx.out(JSON.stringify({ worlds, snapshots }, null, 2));
      return 0;
    }
    ctx.out(`Worlds\n${worldRows(worlds)}\n\nSnapshots\n${snapshotRows(snapshots)}`);
    return 0;
  },
};

function snapshotRows(snapshots: SnapshotInfo[]): string {
  return table(
    ['ID', 'WORLD', 'NAME', 'STATE', 'SNAPSHOT', 'DISK', 'CREATED'],
    snapshots.map((s) => [s.id, s.worldId, s.name, s.state, ms(s.snapshotTimeMs), bytes(s.usage?.diskBytes), time(s.createdAt)]),
  );
}
