/**
 * @module
 * World-level verses: push-down (snapshot a world into GF(3)-balanced verse-worlds), execute-in (code in
 * several verses at once), pull-up (resolve by oracle: collapse the losers, extract the WEV), verses (the
 * push-down events this daemon holds).
 */
import type { DaemonClient } from '../../client/client.js';
import type { AmountMap, EventVerseInfo, PullUpReply, VerseEventInfo } from '../../protocol/results.js';
import { type Command, type Context, need, parseTrit, UsageError } from '../command.js';
import { keyValues, ms, table, trit } from '../format.js';
import { withProgress } from '../progress.js';
import { LAST, worldId } from './worlds.js';

/** An event id, with `last` resolved to the newest open (unresolved, live) push-down of the daemon. */
export async function eventId(client: DaemonClient, id: string): Promise<string> {
  if (id !== LAST) return id;
  // An earlier daemon's open event (live: false) has no worlds left to execute in or resolve.
  const open = (await client.dispatch({ kind: 'verse.list' })).events.filter((e) => e.state === 'open' && e.live);
  const e = open.at(-1);
  if (!e) throw new UsageError('"last": no open push-down event (push a world down first with world-runtime push-down)');
  return e.event;
}

/** `name:trit:probability`, e.g. `nash:-1:0.45`. */
function parseChild(raw: string, i: number): { name: string; trit: -1 | 0 | 1; probability: string } {
  const m = /^([^:]+):([^:]+):([^:]+)$/.exec(raw);
  if (!m) throw new UsageError(`--child[${i}]: expected NAME:TRIT:PROBABILITY (e.g. nash:-1:0.45), got ${JSON.stringify(raw)}`);
  return { name: m[1] as string, trit: parseTrit(`--child[${i}] trit`, m[2] as string), probability: m[3] as string };
}

/** `usd 80, eth 3` or `-`. */
export function amounts(m: AmountMap | null): string {
  const parts = Object.entries(m ?? {}).map(([asset, amount]) => `${amount} ${asset}`);
  return parts.length ? parts.join(', ') : '-';
}

function verseRows(verses: EventVerseInfo[]): string {
  return table(
    ['VERSE', 'NAME', 'TRIT', 'P', 'WORLD', 'STATE'],
    verses.map((v) => [v.verse, v.name, trit(v.trit), v.probability, v.world?.id ?? null, v.world?.state ?? null]),
  );
}

export const pushDown: Command = {
  name: 'push-down',
  summary: 'snapshot a world and split it into GF(3)-balanced verses, one world each',
  usage: 'world-runtime push-down <world> [--event ID] [--child NAME:TRIT:P]... [--allow-unbalanced] [--snapshot-name NAME] [-q]',
  options: {
    event: { type: 'string' },
    child: { type: 'string', multiple: true },
    'allow-unbalanced': { type: 'boolean' },
    'snapshot-name': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  },
  help: `Snapshots the world, branches one world per child verse and creates the ledger partition under the
world's verse. Without --child: the default triad nash:-1:0.45, optimal:0:0.35, chaos:1:0.20.
Options:
  --event ID              the event id (default: a generated e-... id)
  --child NAME:TRIT:P     one child verse (repeatable, at least two): probabilities sum to exactly 1,
                          trits to 0 mod 3
  --allow-unbalanced      accept trits that do not sum to 0 mod 3
  --snapshot-name NAME    name of the snapshot taken first (default pre-<event>)
  -q, --quiet             print only the event id`,
  async run(ctx, v, pos) {
    const [given] = need(pos, ['world']);
    const children = ((v.child as string[] | undefined) ?? []).map(parseChild);
    if (children.length === 1) throw new UsageError('--child: give at least two children (or none for the default triad)');
    const client = await ctx.client();
    const id = await worldId(client, given as string);
    const r = await withProgress(`pushing ${id} down into ${children.length || 3} verses`, () =>
      client.dispatch({
        kind: 'verse.pushDown',
        id,
        ...(typeof v.event === 'string' ? { event: v.event } : {}),
        ...(children.length ? { children } : {}),
        ...(v['allow-unbalanced'] ? { allowUnbalancedTrits: true } : {}),
        ...(typeof v['snapshot-name'] === 'string' ? { snapshotName: v['snapshot-name'] } : {}),
      }),
    );
    if (ctx.json) ctx.out(JSON.stringify(r, null, 2));
    else if (v.quiet) ctx.out(r.event);
    else {
      ctx.out(
        keyValues([
          ['event', r.event],
          ['parent verse', r.parentVerse],
          ['world', id],
          ['snapshot', `${r.snapshot.id} (${r.snapshot.name ?? 'unnamed'})`],
          ['gf3 sum', r.gf3Sum],
          ['push-down', ms(r.pushDownTimeMs)],
        ]),
      );
      ctx.out(`\n${verseRows(r.verses)}`);
    }
    return 0;
  },
};

export const executeIn: Command = {
  name: 'execute-in',
  summary: 'run Python in the verses of a push-down at once',
  usage: 'world-runtime execute-in <event> (NAME=CODE... | --all CODE)',
  options: { all: { type: 'string' } },
  help: `Each NAME=CODE runs CODE in the child verse NAME (split at the first =, so 'nash=x = 1' runs x = 1
in nash); --all CODE runs the same code in every verse of the event. The verses run in parallel; one
failing does not stop the others. Output lines are prefixed with [NAME]. Exits 1 if any verse raised or
could not run (e.g. it collapsed). <event> may be last (the newest open push-down).`,
  async run(ctx, v, pos) {
    const [given, ...pairs] = need(pos, ['event'], Number.POSITIVE_INFINITY);
    let code: string | Record<string, string>;
    if (typeof v.all === 'string') {
      if (pairs.length) throw new UsageError('give NAME=CODE pairs or --all CODE, not both');
      code = v.all;
    } else {
      if (!pairs.length) throw new UsageError('missing NAME=CODE (or --all CODE)');
      const byName: Record<string, string> = {};
      for (const pair of pairs) {
        const i = pair.indexOf('=');
        if (i <= 0) throw new UsageError(`expected NAME=CODE, got ${JSON.stringify(pair)}`);
        byName[pair.slice(0, i)] = pair.slice(i + 1);
      }
      code = byName;
    }
    const client = await ctx.client();
    const event = await eventId(client, given as string);
    const r = await client.dispatch({ kind: 'verse.execute', event, code });
    if (ctx.json) {
      ctx.out(JSON.stringify(r, null, 2));
    } else {
      const prefixed = (name: string, text: string) =>
        text
          .replace(/\n$/, '')
          .split('\n')
          .map((l) => `[${name}] ${l}`)
          .join('\n');
      for (const x of r.results) {
        if (x.result) {
          if (x.result.stdout) ctx.out(prefixed(x.name, x.result.stdout));
          if (x.result.stderr) ctx.err(prefixed(x.name, x.result.stderr));
          if (x.result.value !== null) ctx.out(prefixed(x.name, x.result.value));
          if (x.result.error) ctx.err(prefixed(x.name, x.result.error.traceback || `${x.result.error.type}: ${x.result.error.message}`));
        } else ctx.err(prefixed(x.name, `error: ${x.error ?? 'did not run'}`));
      }
    }
    return r.results.every((x) => x.ok) ? 0 : 1;
  },
};

function showPullUp(ctx: Context, r: PullUpReply): void {
  ctx.out(
    keyValues([
      ['event', r.event],
      ['oracle', r.oracleSource],
      ['winner', `${r.winner.name} (${r.winner.verse}, world ${r.winner.world.id})`],
      ['collapsed', r.collapsed.length ? r.collapsed.join(', ') : '-'],
      ['worlds', r.collapsedWorlds.length ? `${r.collapsedWorlds.join(', ')} collapsed` : '-'],
      ['WEV', amounts(r.wev)],
      ['pull-up', ms(r.pullUpTimeMs)],
    ]),
  );
  if (r.scores) {
    const scores = r.scores;
    ctx.out(
      `\n${table(
        ['VERSE', 'SCORE', ''],
        Object.keys(scores)
          .sort()
          .map((name) => [name, scores[name], name === r.winner.name ? 'winner' : '']),
      )}`,
    );
  }
}

export const pullUp: Command = {
  name: 'pull-up',
  summary: 'resolve a push-down by oracle: keep the winner, collapse the rest, extract the WEV',
  usage: 'world-runtime pull-up <event> [<outcome>] [--outcome NAME | --score EXPR]',
  options: { outcome: { type: 'string' }, score: { type: 'string' } },
  help: `Oracles:
  <outcome>, --outcome NAME   manual: NAME (a child name or verse id) survives
  --score EXPR                score: EXPR (Python) is evaluated in every verse; the highest number wins,
                              ties broken by name
The losing verses and their descendants collapse: their worlds are destroyed and their balances
evaporate; the total per asset is the WEV. A verse_resolutions row records it. <event> may be last
(the newest open push-down).`,
  async run(ctx, v, pos) {
    const [given, positional] = need(pos, ['event'], 2);
    const outcome = positional ?? (typeof v.outcome === 'string' ? v.outcome : undefined);
    if (positional !== undefined && typeof v.outcome === 'string') throw new UsageError('give the outcome as an argument or with --outcome, not both');
    const score = typeof v.score === 'string' ? v.score : undefined;
    if (outcome !== undefined && score !== undefined) throw new UsageError('give an outcome (manual oracle) or --score (score oracle), not both');
    if (outcome === undefined && score === undefined) throw new UsageError('name the winner (<outcome> or --outcome NAME) or pass --score EXPR');
    const client = await ctx.client();
    const event = await eventId(client, given as string);
    const r = await withProgress(`resolving ${event}`, () =>
      client.dispatch({ kind: 'verse.pullUp', event, ...(score !== undefined ? { oracle: 'score' as const, score } : { outcome }) }),
    );
    if (ctx.json) ctx.out(JSON.stringify(r, null, 2));
    else showPullUp(ctx, r);
    return 0;
  },
};

function showEvent(ctx: Context, e: VerseEventInfo): void {
  ctx.out(
    keyValues([
      ['event', e.event],
      ['state', e.live ? e.state : `${e.state} (not live: an earlier daemon's push-down)`],
      ['parent verse', e.parentVerse],
      ['snapshot', e.snapshotId],
      ['gf3 sum', e.gf3Sum],
      ['winner', e.winner],
      ['oracle', e.oracleSource],
      ['WEV', e.wev ? amounts(e.wev) : null],
    ]),
  );
  ctx.out(`\n${verseRows(e.verses)}`);
}

export const verses: Command = {
  name: 'verses',
  summary: 'push-down events of the daemon, or one event with its verses and worlds',
  usage: 'world-runtime verses [<event>]',
  help: '<event> may be last (the newest open push-down).',
  async run(ctx, _v, pos) {
    const [given] = need(pos, [], 1);
    const client = await ctx.client();
    if (given !== undefined) {
      const e = await client.dispatch({ kind: 'verse.get', event: await eventId(client, given) });
      if (ctx.json) ctx.out(JSON.stringify(e, null, 2));
      else showEvent(ctx, e);
      return 0;
    }
    const r = await client.dispatch({ kind: 'verse.list' });
    if (ctx.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    ctx.out(
      table(
        ['EVENT', 'STATE', 'PARENT', 'VERSES', 'GF3', 'WINNER', 'WEV'],
        r.events.map((e) => [
          e.event,
          e.live ? e.state : `${e.state} (not live)`,
          e.parentVerse,
          e.verses.map((x) => x.name).join(','),
          e.gf3Sum,
          e.winner,
          e.wev ? amounts(e.wev) : null,
        ]),
      ),
    );
    return 0;
  },
};
