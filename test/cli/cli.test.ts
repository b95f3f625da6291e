/**
 * The command line end to end: `node dist/src/cli/main.js ...` with WORLD_RUNTIME_HOME set to a temp dir,
 * the daemon started on demand, create → exec → snapshot → branch → destroy, --json parsed, tables, exit
 * codes, one-line errors, --help on every command, and --url + token against a TCP daemon. Verses and the
 * ledger from the command line (and their recipes) are in verses.test.ts.
 */
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/app.js';
import { noProcessesLeft, processesMentioning } from '../fixtures/runtime.js';
import { MAIN, removeHome, startDaemon, stopAll, stopDaemon, tempHome } from '../server/helpers.js';

let home: string;

function cli(args: string[], options: { input?: string; env?: Record<string, string> } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    input: options.input ?? '',
    env: { ...process.env, WORLD_RUNTIME_HOME: home, WORLD_RUNTIME_TOKEN: '', ...options.env },
  });
}

function ok(args: string[], options?: Parameters<typeof cli>[1]): string {
  const r = cli(args, options);
  assert.equal(r.status, 0, `world-runtime ${args.join(' ')} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

// biome-ignore lint/suspicious/noExplicitAny: the CLI's --json output, of many shapes
function json(args: string[], options?: Parameters<typeof cli>[1]): any {
  return JSON.parse(ok([...args, '--json'], options));
}

/** A failure: the exit code, and exactly one line on stderr in the documented form. */
function fails(args: string[], code: number, pattern: RegExp, options?: Parameters<typeof cli>[1]): SpawnSyncReturns<string> {
  const r = cli(args, options);
  assert.equal(r.status, code, `world-runtime ${args.join(' ')}: expected exit ${code}, got ${r.status}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one-line error, got:\n${r.stderr}`);
  assert.match(lines[0] as string, /^world-runtime: error: /);
  assert.match(lines[0] as string, pattern);
  return r;
}

describe('world-runtime CLI', () => {
  before(() => {
    home = tempHome('wrcli');
  });
  after(async () => {
    cli(['stop']);
    await stopAll();
    removeHome(home);
  });

  it('prints help for every command without a daemon', () => {
    assert.match(ok(['--help']), /Commands:\n {2}create/);
    for (const c of COMMANDS) {
      const out = ok([c.name, '--help']);
      assert.match(out, new RegExp(`^Usage: world-runtime ${c.name}`), c.name);
      assert.match(out, /--json/);
    }
    assert.equal(existsSync(`${home}/daemon.sock`), false, 'help started no daemon');
  });

  it('starts the daemon on demand and runs create → exec → snapshot → branch → destroy', () => {
    const w = json(['create', '--trit=1', '--meta', 'purpose="cli test"', '--meta', 'n=3']);
    assert.match(w.id, /^w-/);
    assert.equal(w.trit, 1);
    assert.deepEqual(w.metadata, { purpose: 'cli test', n: 3 });
    // The first command started a daemon that logs to <home>/daemon.log.
    assert.ok(existsSync(`${home}/daemon.sock`));
    assert.match(readFileSync(`${home}/daemon.log`, 'utf8'), /daemon ready/);

    // exec streams stdout/stderr and prints the value last.
    const r = cli(['exec', w.id, 'import sys\nx = 41\nprint("hello")\nprint("oops", file=sys.stderr)\nx + 1']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n42\n');
    assert.equal(r.stderr, 'oops\n');
    // code from stdin
    assert.equal(ok(['exec', w.id, '-'], { input: 'x * 2' }), '82\n');
    const ex = json(['exec', w.id, 'x']);
    assert.deepEqual({ value: ex.value, error: ex.error }, { value: '41', error: null });
    // A raising exec exits 1 with the traceback on stderr.
    const boom = cli(['exec', w.id, '1/0']);
    assert.equal(boom.status, 1);
    assert.match(boom.stderr, /ZeroDivisionError/);

    // run passes the command's exit code through.
    const run = cli(['run', w.id, '--', 'sh', '-c', 'echo from-sh; exit 7']);
    assert.equal(run.status, 7);
    assert.equal(run.stdout, 'from-sh\n');

    const s = json(['snapshot', w.id, '--name', 'pre-event']);
    assert.match(s.id, /^s-/);
    assert.equal(s.name, 'pre-event');
    assert.equal(ok(['snapshot', w.id, '-q']).trim().slice(0, 2), 's-');

    const b = json(['branch', s.id, '--trits=-1,0,1']);
    assert.equal(b.worlds.length, 3);
    assert.deepEqual(
      b.worlds.map((x: { trit: number }) => x.trit),
      [-1, 0, 1],
    );
    for (const v of b.worlds) assert.equal(json(['exec', v.id, 'x']).value, '41');
    const fromWorld = ok(['branch', w.id, '-n', '2', '-q']).trim().split('\n');
    assert.equal(fromWorld.length, 2);
    const from = json(['create', '--from', s.id]);
    assert.equal(from.snapshotId, s.id);

    // Readable tables by default.
    const table = ok(['ls']);
    assert.match(table, /^Worlds\nID +STATE +TRIT/);
    assert.ok(table.includes(w.id));
    const listed = json(['ls']);
    assert.ok(listed.snapshots.some((x: { id: string }) => x.id === s.id));

    // The record.
    const entities = json(['entities', '--type', 'sandbox']);
    assert.ok(entities.entities.some((e: { entityId: string }) => e.entityId === w.id));
    assert.match(ok(['entities', '--limit', '3']), /^ENTITY +TYPE +STATE/);
    const branches = json(['branches']);
    assert.ok(branches.branches.some((x: { childEntityIds: string[] }) => x.childEntityIds.length === 3));
    assert.match(ok(['branches']), /^BRANCH +TYPE +PARENT/);
    assert.match(ok(['resolutions']), /^RESOLUTION/);
    const metrics = ok(['metrics']);
    assert.match(metrics, /^OPERATION +COUNT +P50 +P99 +MAX +TARGET +STATUS/);
    assert.match(metrics, /\ncreate +\d+ .*~250 ms +(OK|OVER)/);
    assert.match(metrics, /\nsnapshot .*<250 ms/);
    assert.match(metrics, /\nbranch .*<250 ms/);
    const m = json(['metrics', '--rows', '2']);
    assert.ok(m.rows.length <= 2);
    assert.equal(json(['doctor']).daemon.record, true);

    const destroyed = json(['destroy', w.id, s.id, ...b.worlds.map((x: { id: string }) => x.id), ...fromWorld, from.id]);
    assert.equal(destroyed.destroyed.length, 3 + 2 + 2 + 1);
    fails(['exec', w.id, '1'], 1, /cannot exec world w-\w+: it is destroyed \(needs running\) \[WRONG_STATE\]$/);
  });

  it('fails with one-line errors and the documented exit codes', () => {
    fails(['frobnicate'], 2, /unknown command "frobnicate"/);
    fails(['exec'], 2, /missing <world>.*see 'world-runtime exec --help'/);
    fails(['create', '--bogus'], 2, /Unknown option '--bogus'/);
    fails(['branch', 's-x', '--count', 'many'], 2, /--count: expected an integer/);
    fails(['branch', 's-x', '--trits=-1,5'], 2, /--trits\[1\]: expected -1, 0 or 1/);
    fails(['exec', 'w-000000000000', '1'], 1, /no world with id "w-000000000000" \[WORLD_NOT_FOUND\]/);
    fails(['entities', '--state', 'sleeping'], 2, /--state: expected one of/);
    fails(['push-down', 'w-000000000000'], 1, /no world with id "w-000000000000" \[WORLD_NOT_FOUND\]/);
    fails(['pull-up', 'e-1'], 2, /name the winner/);
  });

  it('talks to a TCP daemon with --url and the token, and refuses without it', async () => {
    const other = await startDaemon({ listen: '127.0.0.1:0' });
    try {
      const url = other.url as string;
      const w = json(['create', '--url', url, '--token', other.token]);
      assert.equal(json(['exec', w.id, '6*7', '--url', url], { env: { WORLD_RUNTIME_TOKEN: other.token } }).value, '42');
      // The token file of the daemon's own home works too.
      assert.equal(json(['exec', w.id, '1+1', '--url', url, '--home', other.home]).value, '2');
      fails(['ls', '--url', url, '--token', 'wrong'], 1, /wrong bearer token \[UNAUTHORIZED\]/);
      fails(['ls', '--url', 'http://10.1.2.3:80', '--token', 'x'], 1, /loopback only/);
    } finally {
      await stopDaemon(other);
      removeHome(other.home);
    }
  });

  it('stop shuts the daemon down and leaves no world process', () => {
    json(['create']);
    const pid = Number(readFileSync(`${home}/daemon.pid`, 'utf8'));
    assert.ok(processesMentioning(home, [pid]).length > 0);
    assert.match(ok(['stop']), /^stopped daemon \d+/);
    assert.equal(existsSync(`${home}/daemon.sock`), false);
    assert.match(ok(['stop']), /no daemon is running/);
    fails(['ls'], 1, /no daemon answers/, { env: { WORLD_RUNTIME_AUTOSTART: '0' } });
  });

  it('leaves no world process behind', async () => {
    await noProcessesLeft(home, 3000);
  });
});

describe("the justfile's seed recipes", () => {
  const root = resolve(dirname(MAIN), '../../..');
  const just = join(root, 'node_modules/.bin/just');
  const skip = !existsSync(just) || !existsSync(join(root, 'justfile')) ? 'just (rust-just) or the justfile is missing' : false;
  let justHome: string;

  function recipe(args: string[]): SpawnSyncReturns<string> {
    return spawnSync(just, ['--justfile', join(root, 'justfile'), '--working-directory', root, ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, WORLD_RUNTIME_HOME: justHome, WORLD_RUNTIME_TOKEN: '' },
    });
  }

  before(() => {
    justHome = tempHome('wrjust');
  });
  after(() => {
    spawnSync(process.execPath, [MAIN, 'stop'], { env: { ...process.env, WORLD_RUNTIME_HOME: justHome }, timeout: 60_000 });
    removeHome(justHome);
  });

  it('create → snapshot → branch into 3 verses → entities, branches, metrics, resolutions', { skip }, () => {
    const run = (args: string[]) => {
      const r = recipe(args);
      assert.equal(r.status, 0, `just ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const w = JSON.parse(run(['world-runtime-create', '--json', '--meta', 'seed=42']));
    assert.deepEqual(w.metadata, { seed: 42 });
    assert.match(run(['world-runtime-snapshot']), new RegExp(`world +${w.id}\\nname +pre-event`));
    const verses = run(['world-runtime-branch']);
    assert.match(verses, /running +-1 .*\n.*running +0 .*\n.*running +\+1 /);
    const e = JSON.parse(run(['world-runtime-entities', '--json']));
    assert.equal(e.entities.filter((x: { entityType: string }) => x.entityType === 'sandbox').length, 4);
    assert.match(run(['world-runtime-branches']), /fork .* 3 /);
    assert.match(run(['world-runtime-metrics']), /^OPERATION/);
    assert.match(run(['world-runtime-resolutions']), /^RESOLUTION/);
  });
});
