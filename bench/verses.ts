/**
 * @module
 * Verse and record rows of `npm run bench`: world-level push-down of a 200 MB world into the original description's three
 * verses and its pull-up, and branch latency with the DuckDB record on versus off (the
 * write-behind record must keep branching within 5 %).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorldRuntime } from '../src/index.js';
import { type Row, p50AtMost, row, sleep, summarize } from './stats.js';

const STATE_200MB = 'x = bytearray(b"\\xa5") * (190 * 1024 * 1024)\ny = [(i, str(i), float(i)) for i in range(100_000)]';

async function withRuntime<T>(record: boolean, fn: (rt: WorldRuntime) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'wr-bench-'));
  const rt = await WorldRuntime.open({ home, record, warn: () => {} });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Push a 200 MB world down into nash/optimal/chaos and pull it up again, `n` times. */
async function pushPull(n: number): Promise<Row[]> {
  return withRuntime(true, async (rt) => {
    const w = await rt.create({ memoryMib: 1024 });
    await w.exec(STATE_200MB);
    const push: number[] = [];
    const pull: number[] = [];
    for (let i = 0; i < n; i++) {
      await sleep(100); // let the last round's processes exit
      const pd = await rt.pushDown(w);
      push.push(pd.pushDownTimeMs);
      const up = await rt.pullUp(pd.event, { outcome: 'optimal' });
      pull.push(up.pullUpTimeMs);
      await up.winner.world.destroy();
      await pd.snapshot.destroy();
    }
    return [
      row({
        group: 'verses',
        label: 'pushDown of a 200 MB world into 3 verses (snapshot + split + durable partition)',
        samples: push,
        targets: [p50AtMost(15)],
      }),
      row({ group: 'verses', label: 'pullUp (manual oracle: durable resolve + collapse 2 worlds)', samples: pull, targets: [p50AtMost(10)] }),
    ];
  });
}

/** Branch-from-snapshot latency until the new world answers, alternating record on and off runtimes. */
async function recordOverhead(n: number): Promise<Row[]> {
  const samples: Record<'on' | 'off', number[]> = { on: [], off: [] };
  for (const mode of ['on', 'off', 'on', 'off'] as const) {
    await withRuntime(mode === 'on', async (rt) => {
      const w = await rt.create();
      await w.exec('x = bytearray(8 * 1024 * 1024)');
      const s = await w.snapshot();
      await sleep(100);
      for (let i = 0; i < n / 2; i++) {
        const t0 = performance.now();
        const [k] = await rt.branch(s, 1);
        await k?.exec('1');
        samples[mode].push(performance.now() - t0);
        await sleep(40); // the snapshot's spares refill between branches, in both modes alike
        await k?.destroy();
      }
    });
  }
  const on = summarize(samples.on);
  const off = summarize(samples.off);
  const overhead = ((on.p50 - off.p50) / off.p50) * 100;
  return [
    row({ group: 'record', label: 'branch + first exec, 10 MB, record off', samples: samples.off }),
    row({
      group: 'record',
      label: 'branch + first exec, 10 MB, record on (write-behind DuckDB)',
      samples: samples.on,
      headline: { value: overhead, unit: '% vs off', how: 'p50 on / p50 off − 1, same run, runtimes alternated on/off/on/off' },
      targets: [{ on: 'value', op: '<=', limit: 5, text: 'within 5 % of record off' }],
    }),
  ];
}

export async function benchVerses(opts: { quick: boolean; log: (line: string) => void }): Promise<Row[]> {
  opts.log('bench: verses (push-down/pull-up of 200 MB)');
  const rows = await pushPull(opts.quick ? 5 : 15);
  opts.log('bench: record on vs off');
  rows.push(...(await recordOverhead(opts.quick ? 20 : 60)));
  return rows;
}
