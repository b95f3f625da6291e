// The runner of src/drivers/e2b/cell.ts, run by a local python3 as a plain script: what it hands back,
// its in-world timeout, and its reseed of a branch's random state.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { cellFor } from '../../../src/drivers/e2b/cell.js';

/** Run `prelude`, then the cell, printing repr() of what its trailing call returns (or the error's type), then `after`. */
function run(prelude: string, cell: string, after = ''): string {
  const script = [
    prelude,
    `defs, call = ${JSON.stringify(cell)}.rstrip("\\n").rsplit("\\n", 1)`,
    'exec(defs)',
    'try:',
    '    print(repr(eval(call)))',
    'except BaseException as e:',
    '    print("raised", type(e).__name__)',
    after,
  ].join('\n');
  return execFileSync('python3', ['-c', script], { encoding: 'utf8', timeout: 20_000 }).trim();
}

test('the trailing expression comes back as its exact repr, quotes and all; none without one', () => {
  assert.equal(run('', cellFor('x = 2\n"it\'s" * x', 5000)), `"it'sit's"`);
  assert.equal(run('', cellFor('x = 2', 5000)), 'None');
  assert.equal(run('', cellFor('1;', 5000)), 'None', 'a trailing semicolon hides the value, as in a notebook');
  assert.equal(run('', cellFor('def (', 5000)), 'raised SyntaxError');
});

test('code past its timeout raises TimeoutError in the world; the alarm is off once the cell ends', () => {
  assert.equal(run('', cellFor('while True:\n    pass', 200)), 'raised TimeoutError');
  // An alarm left armed would end the process (SIGALRM's default) before it prints.
  assert.equal(run('', cellFor('1', 200), 'import time\ntime.sleep(0.5)\nprint("still here")'), '1\nstill here');
});

test('a branch draws its own random state at its first exec, only when asked', () => {
  const seeded = 'import random\nrandom.seed(1)';
  const expected = execFileSync('python3', ['-c', `${seeded}\nprint(repr(random.random()))`], { encoding: 'utf8' }).trim();
  assert.equal(run(seeded, cellFor('random.random()', 5000, false)), expected, 'sameRandom: the state is kept');
  assert.notEqual(run(seeded, cellFor('random.random()', 5000, true)), expected, 'otherwise reseeded');
});
