// An ordinary E2B program: nothing in it knows about world-runtime. Run it against E2B's cloud, or against
// a local world-runtime daemon by setting E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY (see README.md).
//
// It loads a data set into a sandbox's Python, snapshots that state, forks the sandbox three ways to try
// three strategies on the same in-memory data in parallel, keeps the best, and starts a fresh sandbox from
// the snapshot to show that the loaded state came back without loading it again.
import { Sandbox } from '@e2b/code-interpreter';

const csv = ['day,price', ...Array.from({ length: 200 }, (_, i) => `${i},${(100 + 10 * Math.sin(i / 7) + i * 0.05).toFixed(2)}`)].join('\n');

const sbx = await Sandbox.create({ metadata: { example: 'strategies' } });
console.log(`sandbox ${sbx.sandboxId} created`);
try {
  await sbx.files.write('data/prices.csv', csv);
  const lines = await sbx.commands.run('wc -l < data/prices.csv');
  console.log(`prices.csv has ${lines.stdout.trim()} lines`);

  const loaded = await sbx.runCode(
    [
      'import csv',
      'with open("data/prices.csv") as f:',
      '    prices = [float(r["price"]) for r in csv.DictReader(f)]',
      'print(f"loaded {len(prices)} prices")',
      'len(prices)',
    ].join('\n'),
    { onStdout: (m) => process.stdout.write(`  [sandbox] ${m.line}`) },
  );
  console.log(`runCode answered ${loaded.text}`);

  const snapshot = await sbx.createSnapshot();
  console.log(`snapshot ${snapshot.snapshotId} taken; the sandbox keeps running`);

  const windows = [3, 10, 30];
  const forks = await sbx.fork({ count: windows.length });
  const results = await Promise.all(
    forks.map(async (fork, i) => {
      if (fork instanceof Error) throw fork;
      const w = windows[i];
      // Each fork has the same `prices` in memory and goes its own way from there.
      const run = await fork.runCode(
        [
          `w = ${w}`,
          'cash, held = 1000.0, 0.0',
          'for t in range(w, len(prices)):',
          '    mean = sum(prices[t - w:t]) / w',
          '    if prices[t] < mean and cash > 0: held, cash = cash / prices[t], 0.0',
          '    elif prices[t] > mean and held > 0: cash, held = held * prices[t], 0.0',
          'round(cash + held * prices[-1], 2)',
        ].join('\n'),
      );
      await fork.files.write('result.txt', `window ${w}: ${run.text}\n`);
      return { fork, w, value: Number(run.text) };
    }),
  );
  for (const r of results) console.log(`fork ${r.fork.sandboxId}: window ${r.w} ends with ${r.value}`);
  const best = results.reduce((a, b) => (b.value > a.value ? b : a));
  console.log(`best: window ${best.w}, ${await best.fork.files.read('result.txt')}`.trimEnd());
  await Promise.all(results.map((r) => r.fork.kill()));

  const again = await Sandbox.create(snapshot.snapshotId);
  const fromSnapshot = await again.runCode('len(prices)');
  console.log(`a new sandbox from the snapshot already holds ${fromSnapshot.text} prices`);
  await again.kill();
  await Sandbox.deleteSnapshot(snapshot.snapshotId);
} finally {
  await sbx.kill();
}
console.log('done');
