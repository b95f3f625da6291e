/**
 * @module
 * Newline-delimited JSON from peers the host does not trust (worlds, guest agents, helpers): time linear in
 * the bytes received and memory bounded by a maximum line length, however much a peer sends without a
 * newline. Works on any Readable: a net.Socket, a child's stdout.
 */
import type { Readable } from 'node:stream';

/**
 * Default longest line: 16 MiB. The longest legitimate lines are file contents in base64 (`read_file`
 * replies): 16 MiB carries a ≈12 MiB file, above the 8 MiB upload limit (DEFAULT_MAX_BODY_BYTES), so any
 * file written through the API can be read back, while a hostile peer pins at most 16 MiB per connection.
 */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

// Pieces smaller than SMALL are copied into a shared STAGE-sized buffer: a peer that trickles one byte per
// read would otherwise make each held byte cost a Buffer (≈280 bytes), 280× the limit. Each byte is still
// copied at most once, so the cost stays linear.
const SMALL = 4096;
const STAGE = 16384;

/** A line grew past the reader's limit; the stream was cut there. */
export class LineTooLongError extends Error {
  override name = 'LineTooLongError';
  constructor(readonly limit: number) {
    super(`a line was longer than the limit of ${limit} bytes`);
  }
}

export interface JsonLineOptions {
  /** Longest line accepted, in bytes of UTF-8, not counting its '\n'. Usually DEFAULT_MAX_LINE_BYTES. */
  maxLineBytes: number;
  /** Each line that holds a JSON object, in order. */
  onLine: (msg: Record<string, unknown>) => void;
  /** A line that is not JSON, or JSON but not an object. Default: skip it and read on. */
  onBadLine?: (line: string, err: Error) => void;
  /** Called once, when a line grows past `maxLineBytes`; the stream is destroyed right after. */
  onOverflow?: (err: LineTooLongError) => void;
}

/**
 * Reads newline-delimited JSON objects from a stream. Blank lines are skipped; a trailing line without
 * '\n' is never delivered.
 *
 * On overflow the reader drops what it holds, stops reading, calls `onOverflow` and destroys the stream
 * (without an error, so no 'error' event): a stream cut mid-line cannot be framed again, and destroying is
 * what stops a flood from costing more. If a callback destroys the stream, the rest of its chunk is dropped.
 *
 * @example
 * ```ts
 * new JsonLineReader(socket, {
 *   maxLineBytes: DEFAULT_MAX_LINE_BYTES,
 *   onLine: (msg) => dispatch(msg),
 *   onBadLine: () => socket.destroy(), // this protocol does not forgive garbage
 *   onOverflow: (err) => log(err.message),
 * });
 * ```
 */
export class JsonLineReader {
  // The partial line: pieces in order (large ones as received, small ones gathered in `stage`), joined
  // only once its '\n' arrives.
  private readonly held: Buffer[] = [];
  private heldBytes = 0;
  private stage: Buffer | null = null;
  private staged = 0;
  private stopped = false;
  private readonly onData = (chunk: Buffer | string): void => {
    // Someone set an encoding on the stream: back to bytes, so the limit still counts bytes.
    this.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  };

  constructor(
    private readonly stream: Readable,
    private readonly opts: JsonLineOptions,
  ) {
    if (!Number.isSafeInteger(opts.maxLineBytes) || opts.maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, not ${opts.maxLineBytes}`);
    }
    stream.on('data', this.onData);
  }

  /** Bytes of the incomplete line held now (never more than `maxLineBytes`). For tests and diagnostics. */
  get pendingBytes(): number {
    return this.heldBytes;
  }

  /** Stop reading: drop the partial line and detach from the stream (left open, data to it is ignored). */
  stop(): void {
    this.stopped = true;
    this.held.length = 0;
    this.heldBytes = 0;
    this.stage = null;
    this.staged = 0;
    this.stream.off('data', this.onData);
  }

  private push(chunk: Buffer): void {
    const max = this.opts.maxLineBytes;
    let start = 0;
    // Only the new chunk is scanned; bytes already held are never looked at again until their line ends.
    while (!this.stopped) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.heldBytes + end - start > max) {
        this.overflow();
        return;
      }
      if (nl < 0) {
        if (end > start) this.hold(chunk.subarray(start));
        return;
      }
      let line = chunk.subarray(start, nl);
      if (this.heldBytes > 0) {
        this.flush();
        this.held.push(line);
        line = Buffer.concat(this.held, this.heldBytes + line.length);
        this.held.length = 0;
        this.heldBytes = 0;
      }
      start = nl + 1;
      // Decoded whole, so a character split across chunks comes out intact.
      this.deliver(line.toString('utf8'));
      if (this.stream.destroyed) this.stop();
    }
  }

  private hold(piece: Buffer): void {
    this.heldBytes += piece.length;
    if (piece.length >= SMALL) {
      this.flush();
      this.held.push(piece);
      return;
    }
    if (this.stage && this.staged + piece.length > this.stage.length) this.flush();
    this.stage ??= Buffer.allocUnsafeSlow(STAGE);
    this.staged += piece.copy(this.stage, this.staged);
  }

  private flush(): void {
    if (!this.stage || this.staged === 0) return;
    this.held.push(this.stage.subarray(0, this.staged));
    this.stage = null;
    this.staged = 0;
  }

  private deliver(text: string): void {
    const line = text.trim();
    if (!line) return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      this.opts.onBadLine?.(line, e as Error);
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      this.opts.onBadLine?.(line, new Error('not a JSON object'));
      return;
    }
    this.opts.onLine(msg as Record<string, unknown>);
  }

  private overflow(): void {
    this.stop();
    this.opts.onOverflow?.(new LineTooLongError(this.opts.maxLineBytes));
    this.stream.destroy();
  }
}
