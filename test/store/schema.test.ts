/** The record's schema of the original description (docs/origin.md), exactly; migrations idempotent; newer schemas refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { WorldRuntimeError } from '../../src/base/errors.js';
import { runMigrations, SchemaTooNewError, STORE_MIGRATIONS, STORE_SCHEMA_VERSION, Store } from '../../src/store/index.js';
import { tempDb } from './helpers.js';

/** [column, data_type, is_nullable, column_default] per table, in ordinal order: the original DDL. */
const SEED_COLUMNS: Record<string, [string, string, 'YES' | 'NO', string | null][]> = {
  world_runtime_entities: [
    ['entity_id', 'VARCHAR', 'NO', null],
    ['entity_type', 'VARCHAR', 'NO', null],
    ['parent_id', 'VARCHAR', 'YES', null],
    ['snapshot_id', 'VARCHAR', 'YES', null],
    ['trit', 'INTEGER', 'YES', null],
    ['state', 'VARCHAR', 'YES', "'running'"],
    ['memory_mib', 'INTEGER', 'YES', null],
    ['vcpu_count', 'INTEGER', 'YES', null],
    ['boot_time_ms', 'FLOAT', 'YES', null],
    ['created_at', 'TIMESTAMP', 'YES', 'CURRENT_TIMESTAMP'],
    ['resolved_at', 'TIMESTAMP', 'YES', null],
  ],
  world_branches: [
    ['branch_id', 'VARCHAR', 'NO', null],
    ['parent_entity_id', 'VARCHAR', 'YES', null],
    ['child_entity_ids', 'VARCHAR[]', 'YES', null],
    ['branch_type', 'VARCHAR', 'YES', null],
    ['snapshot_time_ms', 'FLOAT', 'YES', null],
    ['gf3_sum', 'INTEGER', 'YES', null],
    ['branched_at', 'TIMESTAMP', 'YES', 'CURRENT_TIMESTAMP'],
  ],
  verse_resolutions: [
    ['resolution_id', 'VARCHAR', 'NO', null],
    ['verses', 'VARCHAR[]', 'YES', null],
    ['winning_verse', 'VARCHAR', 'YES', null],
    ['oracle_source', 'VARCHAR', 'YES', null],
    ['wev_extracted', 'FLOAT', 'YES', null],
    ['pull_up_time_ms', 'FLOAT', 'YES', null],
    ['resolved_at', 'TIMESTAMP', 'YES', 'CURRENT_TIMESTAMP'],
  ],
  runtime_metrics: [
    ['metric_id', 'VARCHAR', 'NO', null],
    ['entity_id', 'VARCHAR', 'YES', null],
    ['boot_time_ms', 'FLOAT', 'YES', null],
    ['snapshot_time_ms', 'FLOAT', 'YES', null],
    ['branch_time_ms', 'FLOAT', 'YES', null],
    ['memory_overhead_mb', 'FLOAT', 'YES', null],
    ['measured_at', 'TIMESTAMP', 'YES', 'CURRENT_TIMESTAMP'],
  ],
};

/** Every constraint other than NOT NULL, as `table: text`. */
const SEED_CONSTRAINTS = [
  'runtime_metrics: FOREIGN KEY (entity_id) REFERENCES world_runtime_entities(entity_id)',
  'runtime_metrics: PRIMARY KEY(metric_id)',
  'verse_resolutions: PRIMARY KEY(resolution_id)',
  'world_branches: FOREIGN KEY (parent_entity_id) REFERENCES world_runtime_entities(entity_id)',
  'world_branches: PRIMARY KEY(branch_id)',
  'world_runtime_entities: CHECK((trit IN (-1, 0, 1)))',
  'world_runtime_entities: PRIMARY KEY(entity_id)',
];

test('migration 1 creates the original schema exactly (columns, types, defaults, keys, checks)', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  const conn = await store.connect();
  const cols = (
    await conn.runAndReadAll(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = 'main' AND table_name NOT IN ('schema_migrations', 'verse_worlds') ORDER BY table_name, ordinal_position`,
    )
  ).getRowObjectsJS();
  const byTable: Record<string, unknown[]> = {};
  for (const c of cols) {
    const table = String(c.table_name);
    byTable[table] = [...(byTable[table] ?? []), [c.column_name, c.data_type, c.is_nullable, c.column_default]];
  }
  assert.deepEqual(byTable, SEED_COLUMNS);

  const cons = (
    await conn.runAndReadAll(
      `SELECT table_name, constraint_text FROM duckdb_constraints()
       WHERE constraint_type <> 'NOT NULL' AND table_name NOT IN ('schema_migrations', 'verse_worlds') ORDER BY 1, 2`,
    )
  ).getRows();
  assert.deepEqual(
    cons.map(([table, text]) => `${String(table)}: ${String(text)}`),
    SEED_CONSTRAINTS,
  );
  // The CHECK is live, not just listed.
  await assert.rejects(conn.run(`INSERT INTO world_runtime_entities (entity_id, entity_type, trit) VALUES ('x', 'sandbox', 2)`), /CHECK constraint/);
});

test('migration 2 adds verse_worlds, keyed by verse, and leaves the seed tables alone', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  const conn = await store.connect();
  const cols = (
    await conn.runAndReadAll(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'verse_worlds' ORDER BY ordinal_position`,
    )
  ).getRows();
  assert.deepEqual(cols, [
    ['verse', 'VARCHAR', 'NO'],
    ['event', 'VARCHAR', 'NO'],
    ['world_id', 'VARCHAR', 'NO'],
    ['source_world_id', 'VARCHAR', 'YES'],
    ['snapshot_id', 'VARCHAR', 'YES'],
    ['disk_mib', 'INTEGER', 'YES'],
    ['created_at', 'TIMESTAMP', 'YES'],
  ]);
  const names = (await conn.runAndReadAll('SELECT version, name FROM schema_migrations ORDER BY version')).getRows();
  assert.deepEqual(names, [
    [1, 'seed schema'],
    [2, 'verse worlds'],
  ]);
});

test('a version 1 file gains verse_worlds on open, its rows kept', async (t) => {
  const db = tempDb(t);
  const inst = await DuckDBInstance.create(db);
  const conn = await inst.connect();
  await runMigrations(conn, STORE_MIGRATIONS.slice(0, 1), { table: 'schema_migrations', dbPath: db });
  await conn.run("INSERT INTO world_runtime_entities (entity_id, entity_type) VALUES ('w-old', 'sandbox')");
  conn.closeSync();
  inst.closeSync();
  const store = await Store.open(db);
  t.after(() => store.close());
  assert.equal(store.schemaVersion, 2);
  assert.deepEqual(
    (await store.entities()).map((e) => e.entityId),
    ['w-old'],
  );
  assert.deepEqual(await store.verseWorlds(), []);
});

test('migrations run once: reopening keeps the rows and the single migrations row', async (t) => {
  const db = tempDb(t);
  const first = await Store.open(db);
  assert.equal(first.schemaVersion, STORE_SCHEMA_VERSION);
  first.recordEntity({ entityId: 'w1', entityType: 'sandbox' });
  await first.close();

  for (let i = 0; i < 2; i++) {
    const again = await Store.open(db);
    assert.equal(again.schemaVersion, STORE_SCHEMA_VERSION);
    const conn = await again.connect();
    const migrations = (await conn.runAndReadAll('SELECT version, name FROM schema_migrations ORDER BY version')).getRowsJS();
    assert.deepEqual(migrations, [
      [1, 'seed schema'],
      [2, 'verse worlds'],
    ]);
    assert.deepEqual(
      (await again.entities()).map((e) => e.entityId),
      ['w1'],
    );
    await again.close();
  }
});

test('a database with a newer schema version is refused with a clear error', async (t) => {
  const db = tempDb(t);
  const store = await Store.open(db);
  const conn = await store.connect();
  await conn.run(`INSERT INTO schema_migrations (version, name) VALUES (${STORE_SCHEMA_VERSION + 1}, 'from the future')`);
  await store.close();

  await assert.rejects(Store.open(db), (err: unknown) => {
    assert.ok(err instanceof SchemaTooNewError);
    assert.ok(WorldRuntimeError.is(err));
    const [found, supported] = [STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION];
    assert.match(err.message, new RegExp(`schema version ${found} .* supports up to ${supported}`));
    assert.deepEqual(err.details, { dbPath: db, table: 'schema_migrations', found, supported });
    return true;
  });
  // The refusal released the file: a plain DuckDB open works and the rows are untouched.
  const raw = await DuckDBInstance.create(db);
  const rc = await raw.connect();
  assert.deepEqual((await rc.runAndReadAll('SELECT max(version) FROM schema_migrations')).getRowsJS(), [[STORE_SCHEMA_VERSION + 1]]);
  rc.closeSync();
  raw.closeSync();
});

test('runMigrations serves other modules: own table, applied once, a failing step rolls back', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  const conn = await store.connect();
  const steps = [
    { version: 1, name: 'ledger accounts', sql: 'CREATE TABLE ledger_demo (id INTEGER PRIMARY KEY)' },
    { version: 2, name: 'ledger seed', sql: 'INSERT INTO ledger_demo VALUES (1)' },
  ];
  const opts = { table: 'ledger_migrations', dbPath: store.path };
  assert.deepEqual(await runMigrations(conn, steps, opts), [1, 2]);
  assert.deepEqual(await runMigrations(conn, steps, opts), []);
  const broken = [...steps, { version: 3, name: 'broken', sql: 'INSERT INTO ledger_demo VALUES (2); SELECT * FROM no_such_table' }];
  await assert.rejects(runMigrations(conn, broken, opts), /no_such_table/);
  assert.deepEqual((await conn.runAndReadAll('SELECT id FROM ledger_demo ORDER BY id')).getRowsJS(), [[1]]);
  assert.deepEqual((await conn.runAndReadAll('SELECT max(version) FROM ledger_migrations')).getRowsJS(), [[2]]);
  // The store's own version table is untouched.
  assert.deepEqual((await conn.runAndReadAll('SELECT max(version) FROM schema_migrations')).getRowsJS(), [[STORE_SCHEMA_VERSION]]);
});
