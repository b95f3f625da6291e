/**
 * @module
 * The process-driver benchmarks under load (./process.ts runs them): memory per idle branch, branches per
 * second back to back and in batches, and the speedup of CPU-bound execs in parallel branches.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { Bench } from './process.js';
import { type HostProc, scanAgents, smaps } from './process-probes.js';
import { type BWorld, ok } from './process-rigs.js';
import { headlineAtLeast, headlineAtMost, row, skipped, sleep, timed } from './stats.js';

// -- memory per idle branch -----------------------------------------------------------------------

export async function idleMemory(b: Bench): Promise<void> {
  const n = b.p.idleBranches;
  await b.withRig('pool', async (rig) => {
    const { w, rssMib } = await b.stateWorld(rig, 10);
    const worldNs = Number((await ok(w.exec('import os; os.getpid()'))).value);
    const s = await w.snapshot();
    await sleep(300);
    const branches: BWorld[] = [];
    for (let left = n; left > 0; left -= 50) branches.push(...(await rig.branch(s, Math.min(50, left))));
    const nsPids = await Promise.all(branches.map(async (b) => Number((await ok(b.exec('import os; os.getpid()'))).value)));
    await sleep(500); // refills land, the branches go idle
    const agents = scanAgents(process.pid);
    // The world's tree: the pid namespace where every branch's own pid is found.
    const byNs = new Map<string, HostProc[]>();
    for (const a of agents) byNs.set(a.pidns, [...(byNs.get(a.pidns) ?? []), a]);
    const want = new Set(nsPids);
    const treeProcs = [...byNs.values()].find((ps) => nsPids.every((x) => ps.some((q) => q.nspid === x)) && ps.some((q) => q.nspid === worldNs));
    if (!treeProcs) {
      b.add(skipped('memory', `PSS per idle branch (${n} branches of a 10 MB world)`, "could not find the branches among this process's descendants"));
      return;
    }
    const branchProcs = treeProcs.filter((q) => want.has(q.nspid));
    const world = treeProcs.find((q) => q.nspid === worldNs);
    const snap = treeProcs.find((q) => q.ppid === world?.pid && !want.has(q.nspid));
    const spares = treeProcs.filter((q) => q.ppid === snap?.pid && !want.has(q.nspid));
    const others = agents.filter((q) => q.pidns !== treeProcs[0]?.pidns);
    const mem = branchProcs.map((q) => smaps(q.pid));
    const pss = mem.map((m) => m.pssKb / 1024);
    const uss = mem.map((m) => m.ussKb / 1024);
    const perBranch = pss.reduce((a, b) => a + b, 0) / branchProcs.length;
    const mib = (ps: HostProc[]) => ps.reduce((a, q) => a + smaps(q.pid).pssKb, 0) / 1024;
    const ctx = `world PSS ${mib(world ? [world] : []).toFixed(1)} MiB (RSS ${rssMib.toFixed(0)} MiB), snapshot PSS ${mib(snap ? [snap] : []).toFixed(1)} MiB`;
    b.add(
      row({
        group: 'memory',
        label: `PSS per idle branch: ${branchProcs.length} branches of a 10 MB world`,
        unit: 'MiB',
        samples: pss,
        headline: { value: perBranch, unit: 'MiB/branch', how: `sum of PSS over ${branchProcs.length} branches / ${branchProcs.length}` },
        targets: [headlineAtMost(2, 'PSS ≤ 2 MiB/branch')],
        note: ctx,
      }),
    );
    b.add(
      row({
        group: 'memory',
        label: 'USS (private pages) per idle branch, same branches',
        unit: 'MiB',
        samples: uss,
        headline: { value: uss.reduce((a, b) => a + b, 0) / uss.length, unit: 'MiB/branch' },
      }),
    );
    b.add(
      row({
        group: 'memory',
        label: `pool, counted apart: the snapshot's ${spares.length} pre-forked spares`,
        unit: 'MiB',
        samples: spares.map((q) => smaps(q.pid).pssKb / 1024),
        headline: { value: mib(spares), unit: 'MiB total' },
      }),
    );
    b.add(
      row({
        group: 'memory',
        label: `pool, counted apart: the spare sandbox for create (${others.length} processes)`,
        unit: 'MiB',
        samples: others.map((q) => smaps(q.pid).pssKb / 1024),
        headline: { value: mib(others), unit: 'MiB total' },
      }),
    );
  });
}

// -- branches per second --------------------------------------------------------------------------

export async function rate(b: Bench): Promise<void> {
  const { p } = b;
  for (const kind of ['pool', 'nopool'] as const) {
    const n = kind === 'pool' ? p.rateN : p.rateNoPoolN;
    await b.withRig(kind, async (rig) => {
      const { w } = await b.stateWorld(rig, 10);
      const s = await w.snapshot();
      await sleep(300);
      const each: number[] = [];
      const all = await timed(async () => {
        for (let i = 0; i < n; i++) {
          const t = await timed(async () => {
            const [b] = await rig.branch(s, 1);
            await ok((b as BWorld).exec('1'));
          });
          each.push(t.ms);
        }
      });
      const poolText = kind === 'pool' ? 'default pool' : 'pool off';
      b.add(
        row({
          group: 'rate',
          label: `branches/s, back to back ×${n}: branch(s, 1) → exec, 10 MB, ${poolText}`,
          samples: each,
          headline: { value: (n / all.ms) * 1000, unit: 'branches/s', how: `${n} / total wall time` },
          targets: [headlineAtLeast(200, '≥ 200 branches/s')],
          note: `samples: ms per branch; no idle time, all ${n} branches kept alive until the end`,
        }),
      );
    });
  }
  await b.withRig('pool', async (rig) => {
    const { w } = await b.stateWorld(rig, 10);
    const s = await w.snapshot();
    await sleep(300);
    const per: number[] = [];
    let total = 0;
    for (let i = 0; i < p.batches; i++) {
      const t = await timed(async () => {
        const bs = await rig.branch(s, p.batchSize);
        await Promise.all(bs.map((b) => ok(b.exec('1'))));
      });
      per.push(t.ms);
      total += t.ms;
    }
    const n = p.batches * p.batchSize;
    b.add(
      row({
        group: 'rate',
        label: `branches/s in batches: ${p.batches} × rt.branch(s, ${p.batchSize}) → all exec, 10 MB`,
        samples: per,
        headline: { value: (n / total) * 1000, unit: 'branches/s', how: `${n} / summed batch times` },
        targets: [headlineAtLeast(200, '≥ 200 branches/s')],
        note: `samples: ms per batch of ${p.batchSize} (from rt.branch until every branch of the batch has answered exec('1')); batches back to back, all kept alive`,
      }),
    );
  });
}

// -- parallel speedup -----------------------------------------------------------------------------

export async function speedup(b: Bench): Promise<void> {
  const { p } = b;
  await b.withRig('pool', async (rig) => {
    const { w } = await b.stateWorld(rig, 10);
    await ok(w.exec('def spin(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\nimport time'));
    // Calibrate: the fastest of three probes, so that one exec takes about cpuTargetMs on a quiet core.
    let probe = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++)
      probe = Math.min(probe, Number((await ok(w.exec('t = time.perf_counter(); spin(1_000_000); time.perf_counter() - t'))).value));
    const iters = Math.max(10_000, Math.round((1_000_000 * p.cpuTargetMs) / 1000 / probe));
    const s = await w.snapshot();
    const bs = await rig.branch(s, p.cpuBranches);
    await Promise.all(bs.map((b) => ok(b.exec('1'))));
    const code = `spin(${iters})`;
    const ratios: number[] = [];
    const seqs: number[] = [];
    const pars: number[] = [];
    const inTurn = () =>
      timed(async () => {
        for (const b of bs) await ok(b.exec(code));
      });
    const atOnce = () => timed(() => Promise.all(bs.map((b) => ok(b.exec(code)))));
    for (let r = 0; r < p.cpuReps; r++) {
      // Alternate which goes first, so a change in the machine's load does not always favour one.
      const seq = r % 2 === 0 ? await inTurn() : undefined;
      const par = await atOnce();
      const seqMs = seq?.ms ?? (await inTurn()).ms;
      seqs.push(seqMs);
      pars.push(par.ms);
      ratios.push(seqMs / par.ms);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const cores = availableParallelism();
    b.add(
      row({
        group: 'parallel',
        label: `speedup: a ${Math.round(med(seqs) / p.cpuBranches)} ms CPU-bound exec in ${p.cpuBranches} branches, at once vs in turn`,
        unit: 'x',
        samples: ratios,
        headline: { value: med(ratios), unit: `x (ideal here ${Math.min(cores, p.cpuBranches)}x on ${cores} cores)` },
        note: `samples: one ratio per repetition; exec spin(${iters}) (pure-Python loop); ${p.cpuBranches} in turn ${med(seqs).toFixed(0)} ms, at once ${med(pars).toFixed(0)} ms (medians); load ${(loadavg()[0] ?? 0).toFixed(1)}: on a busy machine 8 runnable processes get a larger share of the CPUs than 1, so the ratio can exceed the core count`,
      }),
    );
  });
}
