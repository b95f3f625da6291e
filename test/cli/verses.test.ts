/**
 * Verses and the ledger from the command line, end to end against the daemon it starts: push-down into the
 * default nash/optimal/chaos triad, the ledger (deposit, push-down, transfer, pull-up, balances, journal, check), execute-in,
 * pull-up by score and by outcome, `last` for worlds and events, tables and --json, exit codes and one-line
 * errors naming the ledger's reason; then the justfile's push-down / pull-up recipes on top.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { noProcessesLeft, processesMentioning } from '../fixtures/runtime.js';
import { MAIN, removeHome, stopAll, tempHome } from '../server/helpers.js';
import { cliRunner, justSetup, recipe } from './helpers.js';

let home: string;
const { cli, ok, json, fails } = cliRunner(() => home);

describe('world-runtime push-down, execute-in, pull-up, verses, ledger', () => {
  before(() => {
    home = tempHome('wrverse');
  });
  after(async () => {
    cli(['stop']);
    await stopAll();
    removeHome(home);
  });

  let event: string;
  // biome-ignore lint/suspicious/noExplicitAny: --json output
  let pushed: any;

  it('push-down splits the newest world into the default triad (table, -q and --json)', () => {
    const w = ok(['create', '-q']).trim();
    ok(['exec', w, 'import random\nrandom.seed(7)\nstate = random.random()']);
    const table = ok(['push-down', 'last']);
    assert.match(
      table,
      new RegExp(`^event +(e-[0-9a-f]+)\\nparent verse +root\\nworld +${w}\\nsnapshot +s-\\w+ \\(pre-e-\\w+\\)\\ngf3 sum +0\\npush-down +[\\d.]+ ms`),
    );
    assert.match(
      table,
      /\nVERSE +NAME +TRIT +P +WORLD +STATE\n.*\/nash +nash +-1 +0\.45 +v-\w+ +running\n.*\/optimal +optimal +0 +0\.35 +v-\w+ +running\n.*\/chaos +chaos +\+1 +0\.2 +v-\w+ +running$/m,
    );
    event = /^event +(\S+)/.exec(table)?.[1] as string;
    // The verses share the world's state.
    const verses = json(['verses', event]);
    assert.equal(verses.state, 'open');
    for (const v of verses.verses) assert.equal(json(['exec', v.world.id, 'state']).value, json(['exec', w, 'state']).value);

    // A second push-down, of another world, with its own children: -q prints the event id, --json the API's JSON.
    const w2 = ok(['create', '-q']).trim();
    const id = ok(['push-down', w2, '--event', 'coin', '--child', 'heads:1:0.5', '--child=tails:-1:0.5', '-q']).trim();
    assert.equal(id, 'coin');
    const w3 = ok(['create', '-q']).trim();
    pushed = json(['push-down', w3, '--child', 'a:1:0.5', '--child', 'b:1:0.5', '--allow-unbalanced', '--snapshot-name', 'before']);
    assert.equal(pushed.gf3Sum, 2);
    assert.equal(pushed.snapshot.name, 'before');
    assert.deepEqual(
      pushed.verses.map((v: { name: string; trit: number }) => [v.name, v.trit]),
      [
        ['a', 1],
        ['b', 1],
      ],
    );
    const list = ok(['verses']);
    assert.match(list, /^EVENT +STATE +PARENT +VERSES +GF3 +WINNER +WEV\n/);
    assert.match(list, new RegExp(`\\n${event} +open +root +nash,optimal,chaos +0 +- +-\\n`));
    assert.match(list, /\ncoin +open +root +heads,tails +0 /);
  });

  it('the ledger: deposit, push-down, transfer, balances, journal, verses, events, check', () => {
    const dep = ok(['ledger', 'deposit', 'alice', 'usd', '100']);
    assert.match(dep, /^deposited 100 usd to alice \(seq \d+\)\nVERSE +OWNER +ASSET +AMOUNT\nroot +alice +usd +100$/m);
    // Any size: 2^128 - 1.
    const big = json(['ledger', 'deposit', 'whale', 'wei', '340282366920938463463374607431768211455']);
    assert.equal(big.balances[0].amount, '340282366920938463463374607431768211455');
    const pd = ok(['ledger', 'push-down', event, 'alice', 'usd', '40']);
    assert.match(pd, new RegExp(`^pushed 40 usd of alice down into every verse of ${event}`));
    assert.match(pd, /\nroot +alice +usd +60\n.*\/nash +alice +usd +40\n.*\/optimal +alice +usd +40\n.*\/chaos +alice +usd +40\n$/);
    const tr = json(['ledger', 'transfer', `${event}/nash`, 'usd', 'alice', 'bob', '15']);
    assert.deepEqual(
      tr.balances.map((b: { owner: string; amount: string }) => [b.owner, b.amount]),
      [
        ['alice', '25'],
        ['bob', '15'],
      ],
    );
    const bal = ok(['ledger', 'balances', '--owner', 'alice']);
    assert.match(bal, /^VERSE +OWNER +ASSET +AMOUNT\n/);
    assert.equal(bal.trim().split('\n').length, 1 + 4);
    assert.deepEqual(json(['ledger', 'balances', '--verse', `${event}/nash`, '--owner', 'bob']).balances, [
      { verse: `${event}/nash`, owner: 'bob', asset: 'usd', amount: '15' },
    ]);
    const journal = ok(['ledger', 'journal', '-n', '2']);
    assert.match(
      journal,
      /^SEQ +AT +OP +ARGS\n\d+ .* pushDown +event=\S+ owner=alice asset=usd amount=40\n\d+ .* transfer +verse=\S+ asset=usd from=alice to=bob amount=15\n$/,
    );
    assert.equal(json(['ledger', 'journal']).journal.filter((e: { op: string }) => e.op === 'partition').length, 3);
    assert.match(
      ok(['ledger', 'verses']),
      new RegExp(`^VERSE +PARENT +EVENT +P +TRIT +STATE\\nroot +- +- +1 +0 +live\\n${event}/nash +root +${event} +0\\.45 +-1 +live`),
    );
    assert.match(ok(['ledger', 'events']), new RegExp(`^EVENT +PARENT +CHILDREN +GF3 +RESOLVED +WINNER +ORACLE +WEV\\n${event} +root +3 +0 +no +- +- +-`));
    assert.match(ok(['ledger', 'check']), /^ok +yes\noperations +\d+\nbalances +\d+$/m);
  });

  it('ledger refusals: one line naming the reason, exit 1; wrong usage exits 2 without a request', () => {
    fails(['ledger', 'withdraw', 'alice', 'usd', '1000'], 1, /alice holds 60 usd in verse "root", needs 1000 \[LEDGER INSUFFICIENT_BALANCE\]$/);
    fails(['ledger', 'deposit', 'alice', 'usd', '0'], 1, /\[LEDGER INVALID_AMOUNT\]$/);
    fails(['ledger', 'deposit', 'alice', 'usd', '5', '--verse', `${event}/nash`], 1, /\[LEDGER ROOT_ONLY\]$/);
    fails(['ledger', 'transfer', 'nowhere', 'usd', 'alice', 'bob', '1'], 1, /no verse "nowhere" \[LEDGER UNKNOWN_VERSE\]$/);
    fails(['ledger', 'push-down', 'e-nope', 'alice', 'usd', '1'], 1, /\[LEDGER UNKNOWN_EVENT\]$/);
    fails(['ledger', 'deposit', 'alice', 'usd', '1.5'], 2, /AMOUNT: expected a whole number/);
    fails(['ledger', 'deposit', 'alice', 'usd'], 2, /ledger deposit: missing <amount>/);
    fails(['ledger', 'deposit', 'alice', 'usd', '1', '2'], 2, /unexpected argument "2"/);
    fails(['ledger', 'balances', '-n', '3'], 2, /--limit does not apply to ledger balances/);
    fails(['ledger', 'mint', 'x'], 2, /unknown ledger subcommand "mint"/);
    fails(['ledger'], 2, /missing <subcommand>/);
    fails(['push-down', 'last', '--child', 'x'], 2, /--child\[0\]: expected NAME:TRIT:PROBABILITY/);
    fails(['push-down', 'last', '--child', 'x:2:1', '--child', 'y:0:0'], 2, /--child\[0\] trit: expected -1, 0 or 1/);
    fails(['push-down', 'last', '--child', 'a:1:0.5', '--child', 'b:1:0.5'], 1, /sum to 2, not 0 mod 3 .*\[LEDGER GF3_UNBALANCED\]$/);
    fails(['push-down', 'last', '--event', event], 1, /already exists \[LEDGER DUPLICATE_EVENT\]$/);
    fails(['pull-up', event], 2, /name the winner \(<outcome> or --outcome NAME\) or pass --score EXPR/);
    fails(['pull-up', event, 'nash', '--score', 'x'], 2, /not both/);
    fails(['pull-up', event, 'stoic'], 1, /"stoic" is not a child of this event.*\[INVALID_ARGUMENT\]$/);
    fails(['execute-in', event], 2, /missing NAME=CODE/);
    fails(['execute-in', event, 'nash'], 2, /expected NAME=CODE, got "nash"/);
    fails(['verses', 'e-nope'], 1, /\[LEDGER UNKNOWN_EVENT\]$/);
    // Nothing changed.
    assert.equal(json(['ledger', 'check']).ok, true);
    assert.equal(json(['verses', event]).state, 'open');
  });

  it('execute-in runs code in the verses at once; pull-up by score keeps the best, collapses the rest, shows the WEV', () => {
    const ran = cli(['execute-in', event, "nash=strategy = 'selfish'; payoff = 1", 'optimal=payoff = 3; print("cooperating")', 'chaos=payoff = 2']);
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stdout, '[optimal] cooperating\n');
    const all = cli(['execute-in', event, '--all', 'payoff * 10']);
    assert.equal(all.stdout, '[nash] 10\n[optimal] 30\n[chaos] 20\n');
    const raised = cli(['execute-in', event, 'nash=1/0', 'chaos=7']);
    assert.equal(raised.status, 1);
    assert.equal(raised.stdout, '[chaos] 7\n');
    assert.match(raised.stderr, /^\[nash\] Traceback/m);
    assert.match(raised.stderr, /^\[nash\] ZeroDivisionError/m);
    const j = json(['execute-in', event, '--all', 'payoff']);
    assert.deepEqual(
      j.results.map((x: { name: string; result: { value: string } }) => [x.name, x.result.value]),
      [
        ['nash', '1'],
        ['optimal', '3'],
        ['chaos', '2'],
      ],
    );

    const losers = json(['verses', event]).verses.filter((v: { name: string }) => v.name !== 'optimal');
    const out = ok(['pull-up', event, '--score', 'payoff']);
    assert.match(
      out,
      new RegExp(
        `^event +${event}\\noracle +score:payoff\\nwinner +optimal \\(${event}/optimal, world v-\\w+\\)\\ncollapsed +${event}/nash, ${event}/chaos\\nworlds +v-\\w+, v-\\w+ collapsed\\nWEV +(\\d+) usd\\npull-up +[\\d.]+ ms\\n`,
      ),
    );
    // alice 25 + 40 and bob 15 evaporate with nash and chaos.
    assert.match(out, /\nWEV +80 usd\n/);
    assert.match(out, /\nVERSE +SCORE\nchaos +2\nnash +1\noptimal +3 +winner\n$/);
    for (const v of losers) fails(['exec', v.world.id, '1'], 1, /it is collapsed \(needs running\) \[WRONG_STATE\]$/);
    fails(['pull-up', event, 'nash'], 1, /already resolved .*\[LEDGER EVENT_RESOLVED\]$/);
    fails(['ledger', 'transfer', `${event}/nash`, 'usd', 'bob', 'alice', '1'], 1, /\[LEDGER COLLAPSED_VERSE\]$/);
    const back = json(['ledger', 'pull-up', event, 'alice', 'usd', '40']);
    assert.equal(back.balances[0].amount, '100');
    const resolutions = json(['resolutions']).resolutions;
    assert.equal(resolutions[0].winningVerse, `${event}/optimal`);
    assert.equal(resolutions[0].wevExtracted, 80);
    assert.match(ok(['resolutions']), new RegExp(`\\nr-\\w+ +${event}/optimal .* score:payoff +80 `));
  });

  it('pull-up by outcome, with `last` naming the newest open event', () => {
    // Open: coin, then the a/b event (newest).
    const r = json(['pull-up', 'last', 'b']);
    assert.equal(r.event, pushed.event);
    assert.deepEqual([r.winner.name, r.oracleSource, r.scores, r.wev], ['b', 'manual', null, {}]);
    const coin = json(['pull-up', 'last', '--outcome', 'tails']);
    assert.equal(coin.event, 'coin');
    assert.equal(coin.winner.name, 'tails');
    fails(['pull-up', 'last', 'x'], 2, /"last": no open push-down event/);
    assert.match(ok(['verses']), /\ncoin +resolved +root +heads,tails +0 +coin\/tails +-/);
  });

  it('leaves no world process behind after stop', async () => {
    assert.ok(processesMentioning(home).length > 0, 'the daemon runs worlds');
    assert.match(ok(['stop']), /^stopped daemon \d+/);
    await noProcessesLeft(home, 5000);
  });
});

describe("the justfile's push-down and pull-up recipes", () => {
  const { skip } = justSetup();
  let justHome: string;

  function run(args: string[]): string {
    const r = recipe(justHome, args);
    assert.equal(r.status, 0, `just ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  before(() => {
    justHome = tempHome('wrjustv');
  });
  after(() => {
    spawnSync(process.execPath, [MAIN, 'stop'], { env: { ...process.env, WORLD_RUNTIME_HOME: justHome }, timeout: 60_000 });
    removeHome(justHome);
  });

  it('create → push-down (default triad) → ledger → pull-up (optimal) → push-down the winner → pull-up by score', { skip }, () => {
    const w = JSON.parse(run(['world-runtime-create', '--json', '--meta', 'seed=42']));
    const first = run(['world-runtime-push-down']);
    assert.match(first, new RegExp(`\\nworld +${w.id}\\n`));
    assert.match(first, /\/nash +nash +-1 +0\.45 .*\n.*\/optimal +optimal +0 +0\.35 .*\n.*\/chaos +chaos +\+1 +0\.2 /);
    const event = /^event +(\S+)/.exec(first)?.[1] as string;
    run(['world-runtime-ledger', 'deposit', 'alice', 'usd', '100']);
    run(['world-runtime-ledger', 'push-down', 'last', 'alice', 'usd', '30']);

    // The original description's default: the newest open event, won by optimal.
    const pulled = run(['world-runtime-pull-up']);
    assert.match(pulled, new RegExp(`^event +${event}\\noracle +manual\\nwinner +optimal \\(${event}/optimal, world (v-\\w+)\\)`));
    assert.match(pulled, /\nWEV +60 usd\n/);
    const winner = /world (v-\w+)\)/.exec(pulled)?.[1] as string;

    // `last` is now the winning verse's world: push it down again (nested under <event>/optimal).
    const nested = run(['world-runtime-push-down', 'last', '--event', 'nested']);
    assert.match(nested, new RegExp(`^event +nested\\nparent verse +${event}/optimal\\nworld +${winner}\\n`));
    const ran = run(['world-runtime-execute-in', 'last', 'nash=s = 1', 'optimal=s = 2', 'chaos=s = 5']);
    assert.equal(ran, '');
    const scored = run(['world-runtime-pull-up', 'last', 'score:s * 2']);
    assert.match(scored, /^event +nested\noracle +score:s \* 2\nwinner +chaos /);
    assert.match(scored, /\nchaos +10 +winner$/m);

    assert.match(run(['world-runtime-verses']), new RegExp(`\\n${event} +resolved .*\\nnested +resolved +${event}/optimal `));
    const res = run(['world-runtime-resolutions']);
    assert.equal(res.trim().split('\n').length, 1 + 2);
    assert.match(run(['world-runtime-branches']), /push_down/);
    assert.match(run(['world-runtime-ledger', 'balances']), /\nroot +alice +usd +70\n/);
    assert.match(run(['world-runtime-ledger', 'check']), /^ok +yes/);
  });
});
