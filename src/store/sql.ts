/**
 * @module
 * SQL literal encoding for the write-behind batches.
 *
 * Why literals and not bound parameters: with @duckdb/node-api, binding values (prepared statements,
 * `listValue`) and the appender's flush run synchronously on the JavaScript thread (measured here: ≈8 µs a
 * row for list binds, ≈2–3 ms a flush for the appender even for 20 rows), whereas the text of one statement is
 * parsed and executed on DuckDB's own threads. Only values that passed validation (strings without NUL,
 * finite numbers, safe integers) reach these functions, and every string goes through `str`, so
 * the text is always a well-formed literal.
 */

/** A single-quoted VARCHAR literal (`'` doubled; DuckDB has no backslash escapes in plain strings). */
export function str(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Nullable VARCHAR. */
export function strOrNull(value: string | null): string {
  return value === null ? 'NULL' : str(value);
}

/** Nullable number (validated finite beforehand). `String()` gives the shortest round-trip form DuckDB parses. */
export function numOrNull(value: number | null): string {
  return value === null ? 'NULL' : String(value);
}

/** Nullable TIMESTAMP from epoch milliseconds (an integer), via DuckDB's `make_timestamp(µs)`. */
export function tsOrNull(epochMs: number | null): string {
  return epochMs === null ? 'NULL' : `make_timestamp(${epochMs * 1000})`;
}

/** Nullable VARCHAR[] literal. */
export function strListOrNull(values: readonly string[] | null): string {
  return values === null ? 'NULL' : `[${values.map(str).join(', ')}]::VARCHAR[]`;
}

/** Nullable BOOLEAN literal. */
export function bool(value: boolean): string {
  return value ? 'TRUE' : 'FALSE';
}
