/**
 * Child-process fixture for the store tests (spawned by helpers.spawnChild with WR_STORE_CHILD=<role>).
 * Without that variable it does nothing, since npm test also runs every .js under dist/test/.
 *
 * Roles:
 * - `hold <db>`: open the store, print `ready <pid>`, stay until killed or stdin closes.
 * - `try-open <db>`: try to open the store, print `opened` or `error <json of the error>`.
 * - `record <db>`: record rows forever in rounds, flushing after each, printing `flushed <n>` (every entity
 *   up to index n-1, with its update, branch and metric, is written), until killed.
 */
import { Store } from '../../src/store/index.js';

async function main(role: string, db: string): Promise<void> {
  if (role === 'hold') {
    const store = await Store.open(db);
    store.recordEntity({ entityId: 'held', entityType: 'sandbox' });
    await store.flush();
    process.stdout.write(`ready ${process.pid}\n`);
    process.stdin.resume();
    process.stdin.on('end', () => void store.close().then(() => process.exit(0)));
    return;
  }
  if (role === 'try-open') {
    try {
      const store = await Store.open(db);
      process.stdout.write('opened\n');
      await store.close();
    } catch (err) {
      const e = err as { name?: string; code?: string; message?: string; details?: unknown };
      process.stdout.write(`error ${JSON.stringify({ name: e.name, code: e.code, message: e.message, details: e.details })}\n`);
    }
    return;
  }
  if (role === 'record') {
    // Tiny interval so the timer flusher is also writing while the child dies.
    const store = await Store.open(db, { flushIntervalMs: 5 });
    let n = 0;
    for (;;) {
      for (let i = 0; i < 50; i++, n++) {
        const id = `w${n}`;
        store.recordEntity({ entityId: id, entityType: 'sandbox', trit: ((n % 3) - 1) as -1 | 0 | 1, bootTimeMs: n });
        store.recordBranch({ branchId: `b${n}`, parentEntityId: id, childEntityIds: [`c${n}`], branchType: 'fork', gf3Sum: 0 });
        store.recordMetric({ metricId: `m${n}`, entityId: id, bootTimeMs: n });
        store.updateEntity(id, { state: 'destroyed', resolvedAt: new Date() });
      }
      await store.flush();
      process.stdout.write(`flushed ${n}\n`);
    }
  }
  throw new Error(`unknown role ${role}`);
}

const role = process.env.WR_STORE_CHILD;
if (role !== undefined) {
  main(role, process.argv[2] ?? '').catch((err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  });
}
