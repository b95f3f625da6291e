/**
 * @module
 * World-level verses: the one place that knows "a verse is a world plus a ledger node". A push-down
 * snapshots a world and branches one world per child verse; a pull-up asks an oracle for the surviving
 * child, resolves the ledger event (losing balances evaporate: the WEV) and collapses the losers' worlds.
 */
import type { Ledger } from '../ledger/index.js';
import { InvalidArgumentError, LedgerError } from '../base/errors.js';
import { newId } from '../base/ids.js';
import { checkSnapshotName } from './options.js';
import type { Recorder } from './record.js';
import type { Trit } from '../base/types.js';
import type { Snapshot, World } from './world.js';

export interface VerseChild {
  name: string;
  trit: Trit;
  /** Relative to the parent verse; a partition's children sum to exactly 1. */
  probability: string | number;
}

/** Most child verses in one push-down (the ledger's limit for a partition). */
export const MAX_VERSE_CHILDREN = 256;

/** The default triad of a push-down, the one of the original description (docs/origin.md, hence the name): nash (−1, 0.45), optimal (0, 0.35), chaos (+1, 0.20). */
export const SEED_TRIAD: readonly VerseChild[] = [
  { name: 'nash', trit: -1, probability: '0.45' },
  { name: 'optimal', trit: 0, probability: '0.35' },
  { name: 'chaos', trit: 1, probability: '0.20' },
];

export interface PushDownOptions {
  /** Event id (unique). @default a generated `e-…` id */
  event?: string;
  /** From 2 to 256 child verses, one world each. @default SEED_TRIAD */
  children?: readonly VerseChild[];
  /** Accept trits that do not sum to 0 mod 3. @default false */
  allowUnbalancedTrits?: boolean;
  /** Name of the snapshot taken before the split, at most 200 characters. @default `pre-<event>` */
  snapshotName?: string;
}

/** One child verse of a push-down, with the world that lives in it. */
export interface VerseWorld {
  verse: string;
  name: string;
  trit: Trit;
  probability: string;
  world: World;
}

export interface PushDownResult {
  event: string;
  parentVerse: string;
  snapshot: Snapshot;
  verses: VerseWorld[];
  gf3Sum: number;
  /** Snapshot plus branch plus ledger partition, in ms. */
  pushDownTimeMs: number;
}

export type Oracle = { kind: 'manual'; outcome: string } | { kind: 'score'; expression: string };

export interface PullUpOptions {
  /** `manual`: the caller names the surviving child (name or verse id). */
  outcome?: string;
  /** `manual` (default when `outcome` is given) or `score`. */
  oracle?: 'manual' | 'score';
  /** For the `score` oracle: a Python expression evaluated in every verse; the highest wins, ties by name. */
  score?: string;
}

export interface PullUpResult {
  event: string;
  winner: VerseWorld;
  /** Verse ids collapsed (losers and their descendants). */
  collapsed: string[];
  /** Per asset, the balance that evaporated. */
  wev: Record<string, bigint>;
  /** Scores per child name, for the `score` oracle. */
  scores?: Record<string, number | null>;
  oracleSource: string;
  pullUpTimeMs: number;
}

export interface VerseExecResult {
  verse: string;
  name: string;
  ok: boolean;
  result?: Awaited<ReturnType<World['exec']>>;
  error?: string;
}

/** What the verse book needs from the runtime. */
export interface VerseHost {
  /** Snapshot `world` and start one world per child from that same instant. */
  splitWorld(world: World, snapshotName: string, children: readonly VerseChild[], event: string): Promise<{ snapshot: Snapshot; worlds: World[] }>;
  collapseWorld(world: World): Promise<void>;
}

export class VerseBook {
  /** Which verse each world lives in (worlds not listed live in the root verse). */
  private readonly verseOfWorld = new Map<string, string>();
  private readonly events = new Map<string, VerseWorld[]>();

  constructor(
    readonly ledger: Ledger,
    private readonly host: VerseHost,
    private readonly recorder?: Recorder,
  ) {}

  verseOf(world: World): string {
    return this.verseOfWorld.get(world.id) ?? this.ledger.root;
  }

  /** The verse worlds of `event` when this runtime made that push-down, else undefined. */
  held(event: string): readonly VerseWorld[] | undefined {
    return this.events.get(event);
  }

  eventVerses(event: string): VerseWorld[] {
    const v = this.events.get(event);
    if (!v) throw new LedgerError(`no push-down with event "${event}" in this runtime`, { reason: 'UNKNOWN_EVENT', event });
    return v;
  }

  async pushDown(world: World, options: PushDownOptions = {}): Promise<PushDownResult> {
    world.check('pushDown');
    const event = options.event ?? newId('e');
    const children = options.children ?? SEED_TRIAD;
    if (!Array.isArray(children) || children.length < 2 || children.length > MAX_VERSE_CHILDREN) {
      throw new InvalidArgumentError(
        `pushDown: children must list from 2 to ${MAX_VERSE_CHILDREN} verses, got ${Array.isArray(children) ? children.length : typeof children}`,
      );
    }
    // Checked before the ledger partition is asked for: a snapshot refused later would leave an empty event.
    const snapshotName = checkSnapshotName(options.snapshotName) ?? `pre-${event}`;
    const parentVerse = this.verseOf(world);
    const t0 = performance.now();
    // The ledger checks the partition (probabilities, trits, unique event) the moment it is asked, and makes it
    // durable while the worlds fork: a refused partition rejects before the worlds are kept.
    const partitioned = this.ledger.partition(parentVerse, {
      event,
      children: children.map((c) => ({ name: c.name, trit: c.trit, probability: c.probability })),
      allowUnbalancedTrits: options.allowUnbalancedTrits,
    });
    // A refused partition is refused at once (checked in memory before its commit): learn that before any
    // world is forked, without waiting for the commit itself.
    await Promise.race([partitioned, new Promise((resolve) => setImmediate(resolve))]);
    const [verseIdsR, splitR] = await Promise.allSettled([partitioned, this.host.splitWorld(world, snapshotName, children, event)]);
    if (verseIdsR.status === 'rejected' || splitR.status === 'rejected') {
      // Nothing is left running: a partition refused at commit discards the new worlds; a failed split leaves
      // the ledger with an event whose verses hold nothing (events cannot be deleted; the journal shows it).
      if (splitR.status === 'fulfilled') {
        await Promise.all(splitR.value.worlds.map((w) => w.destroy()));
        await splitR.value.snapshot.destroy();
      }
      throw verseIdsR.status === 'rejected' ? verseIdsR.reason : (splitR as PromiseRejectedResult).reason;
    }
    const verseIds = verseIdsR.value;
    const { snapshot, worlds } = splitR.value;
    const pushDownTimeMs = performance.now() - t0;
    const info = new Map((await this.ledger.verses()).map((v) => [v.id, v]));
    const verses = worlds.map((w, i) => {
      const verse = verseIds[i] as string;
      this.verseOfWorld.set(w.id, verse);
      const c = children[i] as VerseChild;
      return { verse, name: c.name, trit: c.trit, probability: info.get(verse)?.probability ?? String(c.probability), world: w };
    });
    this.events.set(event, verses);
    const gf3Sum = children.reduce((a, c) => a + c.trit, 0);
    this.recorder?.branched(world.id, worlds, pushDownTimeMs, 'push_down', snapshot.snapshotTimeMs);
    this.recorder?.verseWorlds(event, world.id, snapshot.id, verses);
    return { event, parentVerse, snapshot, verses, gf3Sum, pushDownTimeMs };
  }

  /** Run code in every verse at once; one verse failing does not stop the others. */
  async executeIn(verses: readonly VerseWorld[], codeByVerse: Record<string, string> | ((v: VerseWorld) => string)): Promise<VerseExecResult[]> {
    const code = (v: VerseWorld) => (typeof codeByVerse === 'function' ? codeByVerse(v) : (codeByVerse[v.name] ?? codeByVerse[v.verse]));
    const settled = await Promise.allSettled(
      verses.map(async (v) => {
        const c = code(v);
        if (typeof c !== 'string') throw new InvalidArgumentError(`executeIn: no code given for verse "${v.name}"`);
        return v.world.exec(c);
      }),
    );
    return settled.map((s, i) => {
      const v = verses[i] as VerseWorld;
      if (s.status === 'fulfilled') return { verse: v.verse, name: v.name, ok: !s.value.error, result: s.value };
      return { verse: v.verse, name: v.name, ok: false, error: (s.reason as Error).message };
    });
  }

  async pullUp(event: string, options: PullUpOptions): Promise<PullUpResult> {
    const verses = this.eventVerses(event);
    const t0 = performance.now();
    const { winner, scores, oracleSource } = await this.decide(verses, options);
    const { wev, collapsed } = await this.ledger.resolve(event, winner.verse, oracleSource);
    const gone = new Set(collapsed);
    const losers = [...this.verseOfWorld].filter(([, verse]) => gone.has(verse));
    await Promise.all(
      losers.map(async ([worldId]) => {
        this.verseOfWorld.delete(worldId);
        const w = [...this.events.values()].flat().find((v) => v.world.id === worldId)?.world;
        if (w) await this.host.collapseWorld(w);
      }),
    );
    const pullUpTimeMs = performance.now() - t0;
    this.recorder?.store.recordResolution({
      resolutionId: newId('r'),
      verses: verses.map((v) => v.verse),
      winningVerse: winner.verse,
      oracleSource,
      wevExtracted: Number(Object.values(wev).reduce((a, b) => a + b, 0n)),
      pullUpTimeMs,
    });
    return { event, winner, collapsed, wev, scores, oracleSource, pullUpTimeMs };
  }

  private async decide(verses: VerseWorld[], o: PullUpOptions): Promise<{ winner: VerseWorld; scores?: Record<string, number | null>; oracleSource: string }> {
    const oracle = o.oracle ?? (o.score !== undefined ? 'score' : 'manual');
    if (oracle === 'manual') {
      if (typeof o.outcome !== 'string')
        throw new InvalidArgumentError('pullUp: the manual oracle needs `outcome`, the name or verse id of the surviving child');
      const winner = verses.find((v) => v.name === o.outcome || v.verse === o.outcome);
      if (!winner) throw new InvalidArgumentError(`pullUp: "${o.outcome}" is not a child of this event (children: ${verses.map((v) => v.name).join(', ')})`);
      return { winner, oracleSource: 'manual' };
    }
    if (oracle !== 'score') throw new InvalidArgumentError(`pullUp: oracle must be 'manual' or 'score', got ${JSON.stringify(oracle)}`);
    if (typeof o.score !== 'string' || o.score.trim() === '') throw new InvalidArgumentError('pullUp: the score oracle needs `score`, a Python expression');
    const expression = o.score;
    const scores: Record<string, number | null> = {};
    await Promise.all(
      verses.map(async (v) => {
        try {
          const r = await v.world.exec(expression, { timeoutMs: 60_000 });
          const n = r.value === undefined ? Number.NaN : Number(r.value);
          scores[v.name] = r.error || !Number.isFinite(n) ? null : n;
        } catch {
          scores[v.name] = null; // a dead or failed verse cannot win on score
        }
      }),
    );
    const ranked = verses
      .filter((v) => scores[v.name] !== null)
      .sort((a, b) => (scores[b.name] as number) - (scores[a.name] as number) || a.name.localeCompare(b.name));
    const winner = ranked[0];
    if (!winner) throw new LedgerError(`pullUp: no verse produced a numeric score for ${expression}`, { reason: 'NO_SCORE', scores });
    return { winner, scores, oracleSource: `score:${expression}` };
  }
}
