/**
 * @module
 * `npm run bench`: every benchmark of world-runtime, printed as one table (n, p50, p99 per row, the targets
 * each row is held to, marked ✓/✗) beside a baseline measured in the same run, and written as JSON to
 * `bench/results/<timestamp>.json`.
 *
 * Flags: `--quick` (about 30 s instead of about 4 min), `--isolation=auto|world|tree|none`,
 * `--only=process,fs,peer,store,ledger,microvm,verses,e2b,ui,remote,morph` (a comma list of sections).
 *
 * The process-driver rows come from ./process.js, the filesystem rows from ./fs.js, the gVisor
 * checkpoint/restore peer from ./peer.js. The store, ledger, microvm, verses and web view rows come from
 * ./store.js (`benchStore`), ./ledger.js (`benchLedger`), ./microvm.js (`benchMicrovm`), ./verses.js
 * (`benchVerses`) and ./ui.js (`benchUi`) when those modules exist;
 * each is called with `{ quick, log }` and may return `Row[]`, `{ rows: Row[] }`, or rows carrying raw
 * `samples` (see ./stats.js), which are summarised here.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Isolation } from '../src/index.js';
import { benchFs } from './fs.js';
import { benchPeer } from './peer.js';
import { benchProcess } from './process.js';
import { type Row, fmt, row, skipped } from './stats.js';

interface Args {
  quick: boolean;
  isolation: Isolation;
  only?: Set<string>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, isolation: 'auto' };
  for (const arg of argv) {
    if (arg === '--quick') a.quick = true;
    else if (arg.startsWith('--isolation=')) a.isolation = arg.slice('--isolation='.length) as Isolation;
    else if (arg.startsWith('--only=')) a.only = new Set(arg.slice('--only='.length).split(','));
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--quick] [--isolation=auto|world|tree|none] [--only=process,fs,peer,store,ledger,microvm,verses,e2b,ui,remote,morph]\n',
      );
      process.exit(0);
    } else throw new Error(`bench: unknown argument ${arg} (try --help)`);
  }
  return a;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Another engineer's bench module: loaded when it exists, its rows included, "skipped: why" otherwise. */
interface Optional {
  section: string;
  file: string;
  fn: string;
  /** The arguments its bench function takes. */
  args: (quick: boolean) => unknown[];
}

const OPTIONAL: Optional[] = [
  { section: 'store', file: './store.js', fn: 'benchStore', args: (quick) => [{ quick, log }] },
  // benchLedger(seconds per phase): 3 phases plus a warm-up.
  { section: 'ledger', file: './ledger.js', fn: 'benchLedger', args: (quick) => [quick ? 1 : 3] },
  { section: 'microvm', file: './microvm.js', fn: 'benchMicrovm', args: (quick) => [{ quick, log }] },
  { section: 'verses', file: './verses.js', fn: 'benchVerses', args: (quick) => [{ quick, log }] },
  { section: 'e2b', file: './e2b.js', fn: 'benchE2b', args: (quick) => [{ quick, log }] },
  { section: 'ui', file: './ui.js', fn: 'benchUi', args: (quick) => [{ quick, log }] },
  { section: 'remote', file: './remote.js', fn: 'benchRemote', args: (quick) => [{ quick, log }] },
  { section: 'morph', file: './morph.js', fn: 'benchMorph', args: (quick) => [{ quick, log }] },
];

async function runOptional({ section, file, fn, args }: Optional, quick: boolean): Promise<Row[]> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(file)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason =
      e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(file.slice(2))
        ? `bench/${file.slice(2, -3)}.ts is not there yet`
        : `cannot load ${file}: ${e.message.split('\n')[0]}`;
    return [skipped(section, section, reason)];
  }
  const f = mod[fn];
  if (typeof f !== 'function') return [skipped(section, section, `${file} does not export ${fn}()`)];
  try {
    return normalizeRows(section, await (f as (...a: unknown[]) => Promise<unknown>)(...args(quick)));
  } catch (err) {
    return [skipped(section, section, `${fn}() threw: ${(err as Error).message.split('\n')[0]}`)];
  }
}

/** Accept what another module returns: our Row, or anything with a label and samples (or p50/p99). */
function normalizeRows(section: string, result: unknown): Row[] {
  const list = Array.isArray(result) ? result : (result as { rows?: unknown })?.rows;
  if (!Array.isArray(list)) {
    const phases = result && typeof result === 'object' ? fromPhases(section, result as Record<string, unknown>) : [];
    return phases.length ? phases : [skipped(section, section, 'result is neither Row[], { rows: Row[] } nor an object of { p50Ms, p99Ms } phases')];
  }
  return list.map((x: Record<string, unknown>, i) => {
    const label = String(x.label ?? x.name ?? `${section} #${i + 1}`);
    // Rows keep their module's section; a module's own grouping ("baseline") becomes "store baseline".
    const group = x.group === undefined || x.group === section ? section : `${section} ${String(x.group)}`;
    if (typeof x.note === 'string' && x.note.startsWith('skipped') && !Array.isArray(x.samples))
      return skipped(group, label, x.note.replace(/^skipped:\s*/, ''));
    if (Array.isArray(x.samples) && (x.p50 === undefined || x.n === undefined)) {
      return row({
        group,
        label,
        unit: typeof x.unit === 'string' ? x.unit : 'ms',
        samples: x.samples as number[],
        headline: x.headline as Row['headline'],
        targets: x.targets as Row['targets'],
        note: x.note as string | undefined,
      });
    }
    if (typeof x.p50 === 'number') {
      return {
        group,
        label,
        unit: String(x.unit ?? 'ms'),
        n: Number(x.n ?? 0),
        p50: x.p50,
        p99: Number(x.p99 ?? Number.NaN),
        mean: Number(x.mean ?? Number.NaN),
        min: Number(x.min ?? Number.NaN),
        max: Number(x.max ?? Number.NaN),
        headline: x.headline as Row['headline'],
        targets: (x.targets as Row['targets']) ?? [],
        note: x.note as string | undefined,
        samples: (x.samples as number[]) ?? [],
      };
    }
    return skipped(group, label, 'row has neither samples nor p50');
  });
}

/**
 * A result shaped as named phases, e.g. benchLedger's `{ clients8: { p50Ms, p99Ms, opsPerSec, ops }, ...,
 * targetOpsPerSec }`: one row per phase; a `targetOpsPerSec` is held against the first phase's ops/s.
 */
function fromPhases(section: string, obj: Record<string, unknown>): Row[] {
  const rows: Row[] = [];
  const target = typeof obj.targetOpsPerSec === 'number' ? obj.targetOpsPerSec : undefined;
  for (const [key, v] of Object.entries(obj)) {
    if (!v || typeof v !== 'object') continue;
    const ph = v as Record<string, unknown>;
    const p50 = Number(ph.p50Ms ?? ph.p50);
    if (Number.isNaN(p50)) continue;
    const ops = typeof ph.opsPerSec === 'number' ? ph.opsPerSec : undefined;
    const r: Row = {
      group: section,
      label: `${section}: ${key}${typeof ph.clients === 'number' ? ` (${ph.clients} client${ph.clients === 1 ? '' : 's'})` : ''}`,
      unit: 'ms',
      n: Number(ph.ops ?? ph.n ?? Number.NaN),
      p50,
      p99: Number(ph.p99Ms ?? ph.p99 ?? Number.NaN),
      mean: Number.NaN,
      min: Number.NaN,
      max: Number.NaN,
      headline: ops === undefined ? undefined : { value: ops, unit: 'ops/s' },
      targets: [],
      samples: [],
    };
    if (target !== undefined && ops !== undefined && rows.every((x) => x.targets.length === 0)) {
      r.targets.push({ on: 'value', op: '>=', limit: target, text: `≥ ${target} ops/s`, met: ops >= target });
    }
    rows.push(r);
  }
  return rows;
}

function targetsText(r: Row): string {
  return r.targets.map((t) => `${t.met === undefined ? '?' : t.met ? '✓' : '✗'} ${t.text}`).join('  ');
}

function headlineText(r: Row): string {
  return r.headline ? `${fmt(r.headline.value)} ${r.headline.unit}` : '';
}

/** The table: one section per group, the ×py column is p50 over the cold python start p50 of this run. */
function render(rows: Row[], pyStartP50: number): string {
  const labelW = Math.min(96, Math.max(...rows.map((r) => r.label.length)));
  const pad = (s: string, w: number) => (s.length >= w ? s : s + ' '.repeat(w - s.length));
  const lpad = (s: string, w: number) => (s.length >= w ? s : ' '.repeat(w - s.length) + s);
  const head = `${pad('', labelW)}  ${lpad('n', 4)}  ${lpad('p50', 8)}  ${lpad('p99', 8)}  ${pad('unit', 4)}  ${lpad('×py', 5)}  ${pad('headline', 24)}  targets`;
  const lines = [head, '-'.repeat(head.length + 20)];
  let group = '';
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      lines.push(`[${group}]`);
    }
    if (r.n === 0 && r.note?.startsWith('skipped')) {
      lines.push(`${pad(r.label, labelW)}  ${r.note ?? 'skipped'}`);
      continue;
    }
    const ratio = r.unit === 'ms' && pyStartP50 > 0 ? `${(r.p50 / pyStartP50).toFixed(2)}` : '';
    lines.push(
      `${pad(r.label, labelW)}  ${lpad(Number.isNaN(r.n) ? '-' : String(r.n), 4)}  ${lpad(fmt(r.p50), 8)}  ${lpad(fmt(r.p99), 8)}  ${pad(r.unit, 4)}  ${lpad(ratio, 5)}  ${pad(headlineText(r), 24)}  ${targetsText(r)}`,
    );
    if (r.note) lines.push(`${' '.repeat(4)}↳ ${r.note}`);
  }
  return lines.join('\n');
}

/** Processes still descending from this one (there should be none once every runtime is closed). */
function leftovers(): string[] {
  const parent = new Map<number, number>();
  const cmd = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmd.set(Number(name), readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim());
    } catch {}
  }
  const out: string[] = [];
  for (const [pid] of parent) {
    for (let p = parent.get(pid), hops = 0; p !== undefined && hops < 4096; p = parent.get(p), hops++) {
      if (p === process.pid) {
        out.push(`${pid} ${cmd.get(pid)}`);
        break;
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const want = (s: string) => !args.only || args.only.has(s);
  const startedAt = new Date();
  const load0 = loadavg();
  log(`world-runtime bench${args.quick ? ' --quick' : ''}: ${availableParallelism()} cores, load ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  const rows: Row[] = [];
  let meta: { warnings: string[]; isolation: string; recipe: string } = { warnings: [], isolation: 'not run', recipe: '' };
  if (want('process')) {
    log('process driver:');
    const r = await benchProcess({ quick: args.quick, isolation: args.isolation, log });
    rows.push(...r.rows);
    meta = r;
  }
  // Sections of this repository that take the process section's options.
  for (const [section, fn] of [
    ['fs', benchFs],
    ['peer', benchPeer],
  ] as const) {
    if (!want(section)) continue;
    log(`${section}:`);
    const t0 = performance.now();
    try {
      rows.push(...(await fn({ quick: args.quick, isolation: args.isolation, log })).rows);
    } catch (err) {
      rows.push(skipped(section, section, `${fn.name}() threw: ${(err as Error).message.split('\n')[0]}`));
    }
    log(`  ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  for (const o of OPTIONAL) {
    if (!want(o.section)) continue;
    log(`${o.section}:`);
    const t0 = performance.now();
    rows.push(...(await runOptional(o, args.quick)));
    log(`  ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  const finishedAt = new Date();
  const left = leftovers();
  // The process section's cold start when it ran, else the one the fs or peer section measured.
  const py = rows.find((r) => r.group.endsWith('baseline') && r.label.startsWith('cold start: /usr/bin/python3'));
  const seconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  const out = [
    '',
    `world-runtime bench — ${startedAt.toISOString()} — ${seconds.toFixed(0)} s${args.quick ? ' (--quick)' : ''}`,
    `machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, node ${process.version}; load ${load0.map((x) => x.toFixed(2)).join(' ')} → ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
    `isolation: ${meta.isolation}; world state: ${meta.recipe}`,
    'times are wall time in ms seen by the caller; "→ first exec" rows stop when the new world has answered exec("1");',
    '×py = p50 / p50 of the cold python start baseline of this run',
    '',
    render(rows, py?.p50 ?? 0),
    '',
    `targets: ${rows.flatMap((r) => r.targets).filter((t) => t.met).length} met, ${rows.flatMap((r) => r.targets).filter((t) => t.met === false).length} missed`,
    left.length ? `LEFTOVER PROCESSES (${left.length}): ${left.slice(0, 5).join('; ')}` : 'leftover processes: none',
  ];
  process.stdout.write(`${out.join('\n')}\n`);

  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${startedAt.toISOString().replaceAll(':', '-').replace(/\..*$/, '')}${args.quick ? '-quick' : ''}.json`;
  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    seconds,
    quick: args.quick,
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model,
      memoryGiB: totalmem() / 2 ** 30,
      kernel: release(),
      node: process.version,
      loadBefore: load0,
      loadAfter: loadavg(),
    },
    isolation: meta.isolation,
    worldState: meta.recipe,
    warnings: meta.warnings,
    leftoverProcesses: left,
    rows,
  };
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`results: ${file}\n`);
  if (left.length) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
