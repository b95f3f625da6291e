/**
 * @module
 * Files in and out of a world in chunks (agent/PROTOCOL.md, `write_file` and `read_file`): no message is
 * larger than a chunk, the host never rebuilds a growing string, and time and memory are linear in the
 * file's size. A write lands in a temporary file that is renamed into place only when complete.
 */
import { InvalidArgumentError } from '../../base/errors.js';

/** Bytes per message (base64 makes it 256 KiB on the wire). */
export const FILE_CHUNK_BYTES = 192 * 1024;
/** Largest file `readFile` returns whole; bigger ones are refused rather than held in the host's memory. */
export const MAX_READ_BYTES = 1024 * 1024 * 1024;

type Request = (op: string, args: Record<string, unknown>, onEvent?: (ev: string, data: string) => void, budget?: number) => Promise<Record<string, unknown>>;

export async function writeWorldFile(request: Request, path: string, data: Uint8Array): Promise<void> {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  do {
    const chunk = buf.subarray(offset, offset + FILE_CHUNK_BYTES);
    const last = offset + chunk.length >= buf.length;
    await request('write_file', { path, data: chunk.toString('base64'), first: offset === 0, last });
    offset += chunk.length;
  } while (offset < buf.length);
}

export async function readWorldFile(request: Request, path: string): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let size = 0;
  const onEvent = (ev: string, data: string) => {
    if (ev !== 'data') return;
    const b = Buffer.from(data, 'base64');
    size += b.length;
    parts.push(b);
  };
  // The agent refuses a file past the limit before sending any of it; the budget (its base64 plus the
  // envelopes) only cuts off a world that streams more than it said it would.
  const budget = Math.ceil((MAX_READ_BYTES * 4) / 3) + (MAX_READ_BYTES / FILE_CHUNK_BYTES + 1) * 64;
  try {
    await request('read_file', { path, maxBytes: MAX_READ_BYTES }, onEvent, budget);
  } catch (err) {
    if ((err as { details?: { agentCode?: string } }).details?.agentCode === 'TOO_LARGE') {
      throw new InvalidArgumentError(`readFile: ${(err as Error).message}; copy it out with run() instead`);
    }
    throw err;
  }
  const out = Buffer.concat(parts, size);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
