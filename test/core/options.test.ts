// WorldRuntime.open's options are checked at the boundary (src/core/options.ts): here the microvm driver's,
// which open passes on to MicrovmDriver. (That they reach a running microvm driver: test/drivers/microvm.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/base/errors.js';
import { normalizeOpen } from '../../src/core/options.js';

test('microvm options: kept as given, absent ones left to the driver', () => {
  assert.deepEqual(normalizeOpen({}).microvm, {});
  const all = { accel: 'tcg', snapshotBudgetBytes: 1 << 30, hangGraceMs: 1500, spareWorlds: 0, spareVms: 4 } as const;
  assert.deepEqual(normalizeOpen({ driver: 'microvm', microvm: all }).microvm, all);
  assert.deepEqual(normalizeOpen({ microvm: { spareVms: 64 } }).microvm, { spareVms: 64 });
});

test('a bad microvm option is refused with a message that names it', () => {
  const bad: [unknown, RegExp][] = [
    ['tcg', /^microvm must be an object, got "tcg"/],
    [null, /^microvm must be an object, got null/],
    [[], /^microvm must be an object/],
    [{ spares: 2 }, /^microvm: unknown option "spares" \(known: accel, snapshotBudgetBytes, hangGraceMs, spareWorlds, spareVms\)/],
    [{ home: '/tmp/x' }, /^microvm: unknown option "home"/],
    [{ accel: 'hvf' }, /^microvm\.accel must be one of 'auto', 'kvm', 'tcg', got "hvf"/],
    [{ snapshotBudgetBytes: 0 }, /^microvm\.snapshotBudgetBytes must be an integer from 1 to 9007199254740991, got 0/],
    [{ snapshotBudgetBytes: 1.5 }, /^microvm\.snapshotBudgetBytes must be an integer/],
    [{ hangGraceMs: 10 }, /^microvm\.hangGraceMs must be an integer from 100 to 86400000, got 10/],
    [{ hangGraceMs: Number.POSITIVE_INFINITY }, /^microvm\.hangGraceMs .* got Infinity/],
    [{ spareWorlds: -1 }, /^microvm\.spareWorlds must be an integer from 0 to 64, got -1/],
    [{ spareVms: 65 }, /^microvm\.spareVms must be an integer from 0 to 64, got 65/],
    [{ spareVms: '2' }, /^microvm\.spareVms must be an integer from 0 to 64, got "2"/],
  ];
  for (const [microvm, pattern] of bad) {
    assert.throws(
      () => normalizeOpen({ driver: 'microvm', microvm: microvm as never }),
      (e: Error) => e instanceof InvalidArgumentError && pattern.test(e.message),
      `${JSON.stringify(microvm)}: ${pattern}`,
    );
  }
});
