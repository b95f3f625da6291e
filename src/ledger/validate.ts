/**
 * @module
 * Argument validation for ledger operations. Every failure is a `LedgerError` whose `details.reason` is a
 * {@link LedgerReason}, so callers (HTTP, CLI) can branch on it without parsing messages.
 */

import { LedgerError } from '../base/errors.js';
import { MAX_AMOUNT, PROBABILITY_SCALE, ROOT_VERSE, type LedgerReason, type Trit } from './types.js';

/** Build the error every rejection throws. */
export function ledgerError(reason: LedgerReason, message: string, details: Record<string, unknown> = {}): LedgerError {
  return new LedgerError(message, { reason, ...details });
}

/** The `reason` of a ledger error, or undefined for anything else. */
export function reasonOf(err: unknown): LedgerReason | undefined {
  if (err instanceof LedgerError) return err.details.reason as LedgerReason | undefined;
  return undefined;
}

// Control characters are refused because identifiers become SQL literals and map keys joined by NUL;
// lone surrogates because DuckDB stores UTF-8 and would silently replace them, so memory and disk would differ.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Check an identifier (owner, asset, event, child name, oracle source). */
export function checkName(what: string, value: unknown, maxLength = 256): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw ledgerError('INVALID_ARGUMENT', `${what} must be a non-empty string of at most ${maxLength} characters`, {
      what,
      received: typeof value === 'string' ? value.slice(0, 64) : typeof value,
    });
  }
  if (CONTROL.test(value) || LONE_SURROGATE.test(value)) {
    throw ledgerError('INVALID_ARGUMENT', `${what} must not contain control characters or lone surrogates`, { what });
  }
  return value;
}

/** Check an amount: a bigint in 1 … 2^128 − 1. */
export function checkAmount(value: unknown): bigint {
  if (typeof value !== 'bigint') {
    throw ledgerError('INVALID_AMOUNT', `amount must be a bigint, got ${typeof value}`, { received: typeof value });
  }
  if (value <= 0n || value > MAX_AMOUNT) {
    throw ledgerError('INVALID_AMOUNT', `amount must be in 1 … 2^128-1, got ${value}`, { amount: value.toString() });
  }
  return value;
}

/** Check a trit: -1, 0 or +1. */
export function checkTrit(value: unknown, child: string): Trit {
  if (value === -1 || value === 0 || value === 1) return value;
  throw ledgerError('INVALID_ARGUMENT', `trit of child "${child}" must be -1, 0 or 1, got ${String(value)}`, { child });
}

const DECIMAL = /^(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * Parse a probability into fixed-point (×10^18) without rounding: more than 18 decimals, a negative value,
 * a value above 1 or anything non-numeric is refused with `BAD_PROBABILITIES`.
 *
 * @example
 * parseProbability('0.45') // 450000000000000000n
 * parseProbability(0.2)    // 200000000000000000n (via the shortest round-trip text "0.2")
 */
export function parseProbability(value: unknown, child: string): bigint {
  // Numbers go through their shortest round-trip text, so 0.45 means "0.45", not its binary expansion.
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  const m = typeof text === 'string' ? DECIMAL.exec(text.trim()) : null;
  if (!m) {
    throw ledgerError('BAD_PROBABILITIES', `probability of child "${child}" must be a decimal in [0, 1], got ${String(value)}`, {
      child,
    });
  }
  const exp = Number(m[3] ?? '0');
  const frac = m[2] ?? '';
  // value = digits × 10^-scale; strip trailing zeros so "0.450" and 4.5e-1 count as 2 decimals.
  let digits = ((m[1] ?? '0') + frac).replace(/^0+(?=\d)/, '');
  let scale = frac.length - exp;
  while (scale > 0 && digits.length > 1 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    scale--;
  }
  if (digits === '0') scale = 0;
  if (scale > 18 || Math.abs(exp) > 64) {
    throw ledgerError('BAD_PROBABILITIES', `probability of child "${child}" has more than 18 decimals: ${String(value)}`, { child });
  }
  const fixed = BigInt(digits) * 10n ** BigInt(18 - scale);
  if (fixed > PROBABILITY_SCALE) {
    throw ledgerError('BAD_PROBABILITIES', `probability of child "${child}" exceeds 1: ${String(value)}`, { child });
  }
  return fixed;
}

/** Canonical decimal text of a fixed-point probability: `'1'`, `'0.45'`, `'0'`. */
export function formatProbability(fixed: bigint): string {
  const int = fixed / PROBABILITY_SCALE;
  const frac = (fixed % PROBABILITY_SCALE).toString().padStart(18, '0').replace(/0+$/, '');
  return frac === '' ? int.toString() : `${int}.${frac}`;
}

/** deposit/withdraw name the root verse only. @throws LedgerError `ROOT_ONLY`. */
export function rootOnly(op: string, verse: unknown): void {
  if (verse !== ROOT_VERSE) {
    throw ledgerError('ROOT_ONLY', `${op} touches the root verse only ("${String(verse)}" given): use pushDown to fund a child`, { verse });
  }
}
