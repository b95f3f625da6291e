/**
 * @module
 * Turn loosely typed arguments (from callers or from the stored journal's JSON) into a checked
 * {@link LedgerOp}. Only shape is checked here; whether the op is allowed in the current state is `apply.ts`'s job.
 */

import { checkAmount, checkName, checkTrit, formatProbability, ledgerError, parseProbability } from './validate.js';
import type { LedgerOp, LedgerOpName } from './types.js';

const OPS: readonly LedgerOpName[] = ['deposit', 'withdraw', 'transfer', 'partition', 'pushDown', 'pullUp', 'resolve'];

type Raw = Record<string, unknown>;

/** True for a known operation name. */
export function isOpName(value: unknown): value is LedgerOpName {
  return typeof value === 'string' && (OPS as readonly string[]).includes(value);
}

/**
 * Check and normalise one operation. Amounts must already be bigints (the journal codec converts its
 * decimal strings first); probabilities become canonical decimal strings.
 */
export function normalizeOp(op: LedgerOpName, raw: Raw): LedgerOp {
  switch (op) {
    case 'deposit':
    case 'withdraw':
    case 'pushDown':
    case 'pullUp': {
      const owner = checkName('owner', raw.owner);
      const asset = checkName('asset', raw.asset);
      const amount = checkAmount(raw.amount);
      if (op === 'deposit' || op === 'withdraw') return { op, args: { owner, asset, amount } };
      return { op, args: { event: checkName('event', raw.event), owner, asset, amount } };
    }
    case 'transfer':
      return {
        op,
        args: {
          verse: checkName('verse', raw.verse, 1024),
          asset: checkName('asset', raw.asset),
          from: checkName('from', raw.from),
          to: checkName('to', raw.to),
          amount: checkAmount(raw.amount),
        },
      };
    case 'partition':
      return { op, args: partitionArgs(raw) };
    case 'resolve':
      return {
        op,
        args: {
          event: checkName('event', raw.event),
          winner: checkName('winner', raw.winner, 1024),
          oracleSource: checkName('oracleSource', raw.oracleSource, 4096),
        },
      };
  }
}

const MAX_CHILDREN = 256;

function partitionArgs(raw: Raw): Extract<LedgerOp, { op: 'partition' }>['args'] {
  const parent = checkName('parent verse', raw.parent, 1024);
  const event = checkName('event', raw.event);
  const list = raw.children;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_CHILDREN) {
    throw ledgerError('NOT_A_PARTITION', `a partition needs 1 … ${MAX_CHILDREN} children`, {
      event,
      children: Array.isArray(list) ? list.length : typeof list,
    });
  }
  const children = list.map((c: unknown) => {
    const child = (typeof c === 'object' && c !== null ? c : {}) as Raw;
    const name = checkName('child name', child.name);
    if (name.includes('/')) {
      throw ledgerError('INVALID_ARGUMENT', `child name "${name}" must not contain "/" (verse ids are event/name)`, { name });
    }
    const probability = formatProbability(parseProbability(child.probability, name));
    return { name, probability, trit: checkTrit(child.trit, name) };
  });
  const allow = raw.allowUnbalancedTrits;
  if (allow !== undefined && typeof allow !== 'boolean') {
    throw ledgerError('INVALID_ARGUMENT', 'allowUnbalancedTrits must be a boolean', { received: typeof allow });
  }
  return { parent, event, children, allowUnbalancedTrits: allow ?? false };
}
