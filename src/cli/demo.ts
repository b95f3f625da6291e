/**
 * @module
 * The whole story of world-runtime, told through the daemon (started if none runs), so that its worlds, its
 * verse tree and its balances are there afterwards for `world-runtime ui`, `ls` and `verses`: deposit into
 * the root verse, create a world and load ~50 MB of state, push it down into three verses (nash −1, optimal 0,
 * chaos +1), push balances down, run three strategies in parallel, resolve with the `score` oracle, and print
 * the winner, the collapsed verses, the WEV and the measured timings beside the 250 ms targets (create
 * ~250 ms, snapshot and branch < 250 ms: the figures `world-runtime metrics` checks too).
 */
import type { DaemonClient } from '../client/client.js';
import { UsageError } from './command.js';

export interface DemoOptions {
  /** The daemon the story runs in. */
  client: DaemonClient;
  /** Where the story is printed. @default process.stdout */
  out?: (line: string) => void;
  /** The driver the story must run on: a daemon with another one is refused. @default whichever it has */
  driver?: string;
}

/** The universe every verse starts from: ~50 MB of state and one `evolve()` that plays a strategy. */
const UNIVERSE = `
import random
random.seed(7)
prices = bytearray(48 * 1024 * 1024)          # ~48 MB of market state
agents = [{"id": i, "wealth": 100.0} for i in range(20000)]
def evolve(rounds=200):
    global score
    for _ in range(rounds):
        for a in random.sample(agents, 200):
            if strategy == "selfish":
                a["wealth"] *= 1.0 + random.uniform(-0.05, 0.06)
            elif strategy == "cooperative":
                a["wealth"] += (sum(b["wealth"] for b in agents[:50]) / 50 - a["wealth"]) * 0.1 + 0.4
            else:
                a["wealth"] *= random.choice([0.7, 1.0, 1.35])
    score = round(sum(a["wealth"] for a in agents) / len(agents), 3)
    return score
`;

const STRATEGIES: Record<string, string> = {
  nash: "strategy = 'selfish'; evolve()",
  optimal: "strategy = 'cooperative'; evolve()",
  chaos: "strategy = 'random'; evolve()",
};

const TARGET_MS = 250;

function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

function vsTarget(label: string, ms: number): string {
  const ratio = ms < TARGET_MS ? `${(TARGET_MS / Math.max(ms, 0.001)).toFixed(1)}x faster` : `${(ms / TARGET_MS).toFixed(1)}x slower`;
  return `  ${label.padEnd(22)} ${fmt(ms).padStart(10)}   target: <${TARGET_MS} ms  ${ms < TARGET_MS ? '✓' : '✗'}  (${ratio})`;
}

/** Alice's usd in `verse`, read back from the ledger. */
async function usd(client: DaemonClient, verse: string): Promise<string> {
  const { balances } = await client.dispatch({ kind: 'ledger.balances', verse, owner: 'alice', asset: 'usd' });
  return balances[0]?.amount ?? '0';
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const client = opts.client;
  const doctor = await client.dispatch({ kind: 'system.doctor' });
  const serving = String(doctor.drivers[0]?.driver);
  if (opts.driver !== undefined && serving !== opts.driver) {
    throw new UsageError(`--driver ${opts.driver}: the daemon of ${doctor.home} already runs driver ${serving}; stop it (world-runtime stop) or pass another --home`);
  }
  const isolation = doctor.drivers[0]?.isolation;
  out(`world-runtime demo  (driver: ${serving}${isolation === undefined ? '' : `, isolation: ${String(isolation)}`}, home: ${doctor.home})`);
  await client.dispatch({ kind: 'ledger.deposit', owner: 'alice', asset: 'usd', amount: '1000' });
  out(`1. deposited 1000 usd for alice into the root verse (balance ${await usd(client, 'root')})`);

  const world = await client.dispatch({ kind: 'world.create', metadata: { seed: 'world-runtime demo' } });
  const load = await client.dispatch({ kind: 'world.exec', id: world.id, code: UNIVERSE });
  if (load.error) throw new Error(`loading the universe failed: ${load.error.message}`);
  out(`2. created world ${world.id} in ${fmt(world.bootTimeMs)}, loaded ~50 MB of state in ${fmt(load.durationMs)}`);

  // Event ids are unique for the life of the ledger, which persists across runs in the home.
  const pd = await client.dispatch({ kind: 'verse.pushDown', id: world.id, event: `event-${Date.now().toString(36)}`, snapshotName: 'pre-event' });
  out(
    `3. pushed the world down into ${pd.verses.length} verses (snapshot "${pd.snapshot.name}" in ${fmt(pd.snapshot.snapshotTimeMs)}, whole push-down ${fmt(pd.pushDownTimeMs)}, gf3 sum ${pd.gf3Sum})`,
  );
  const pushed = await client.dispatch({ kind: 'ledger.pushDown', event: pd.event, owner: 'alice', asset: 'usd', amount: '300' });
  const held = pd.verses.map((v) => pushed.balances.find((b) => b.verse === v.verse)?.amount ?? '0');
  out(`4. pushed 300 usd of alice down: the root keeps ${await usd(client, 'root')}, the verses hold ${held.join(' / ')}`);

  const t1 = performance.now();
  const { results } = await client.dispatch({ kind: 'verse.execute', event: pd.event, code: STRATEGIES });
  out(`5. ran three strategies in parallel in ${fmt(performance.now() - t1)}:`);
  for (const v of pd.verses) {
    const r = results.find((x) => x.verse === v.verse);
    const what = r?.ok ? `score ${r.result?.value}` : `failed: ${r?.error ?? r?.result?.error?.message}`;
    out(
      `     verse-${v.name.padEnd(8)} trit ${String(v.trit).padStart(2)}  prob ${v.probability.padEnd(5)} ${STRATEGIES[v.name]?.split(';')[0]?.padEnd(26)} ${what}`,
    );
  }

  const up = await client.dispatch({ kind: 'verse.pullUp', event: pd.event, oracle: 'score', score: 'score' });
  out(
    `6. the score oracle resolved the event in ${fmt(up.pullUpTimeMs)}: winner verse-${up.winner.name}; collapsed ${up.collapsed.map((c) => c.split('/').pop()).join(', ')}`,
  );
  out(
    `   WEV (balance that evaporated with the collapsed verses): ${
      Object.entries(up.wev)
        .map(([a, x]) => `${x} ${a}`)
        .join(', ') || '0'
    }`,
  );
  await client.dispatch({ kind: 'ledger.pullUp', event: pd.event, owner: 'alice', asset: 'usd', amount: '300' });
  out(`7. pulled alice's 300 usd back up from the winner: root balance ${await usd(client, 'root')} usd`);
  const check = await client.dispatch({ kind: 'ledger.check' });
  out(`   ledger check: ${check.ok ? `invariant holds over ${check.ops} journaled operations` : check.problems.join('; ')}`);

  const branchMs = pd.verses[0]?.world.bootTimeMs ?? 0;
  out('\nmeasured (this run) beside the targets:');
  out(vsTarget('create', world.bootTimeMs));
  out(vsTarget('snapshot (50 MB)', pd.snapshot.snapshotTimeMs));
  out(vsTarget('branch into 3 verses', branchMs));
  out(vsTarget('pull-up', up.pullUpTimeMs));
  out(`\nrecorded in ${doctor.home}/world-runtime.duckdb (tables world_runtime_entities, world_branches, verse_resolutions, runtime_metrics, verse_worlds, ledger_*)`);
  out(
    `the daemon keeps world ${world.id}, its snapshot and the winning verse's world ${up.winner.world.id} running: see the tree with \`world-runtime ui\`, end them with \`world-runtime stop\``,
  );
}
