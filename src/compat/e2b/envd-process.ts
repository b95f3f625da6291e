/**
 * @module
 * envd's `process.Process` Connect service over the guest's process table (guest-core.ts): Start and
 * Connect stream a command's output and its end; List, SendInput, StreamInput, SendSignal and CloseStdin
 * act on it by pid or tag. As under envd, a command outlives the stream that started it (the SDK's
 * `background` commands and `disconnect()`), and the Start request's timeout kills it. PTYs are not served.
 */
import type { IncomingMessage } from 'node:http';
import type { World } from '../../index.js';
import { bool, bytes, ConnectError, field, FrameReader, int, type Json, obj, parseMessage, type ServerStream, str, strList, strMap, timeoutOf } from './connect.js';
import { keepaliveMs, type RpcCall } from './envd-files.js';
import { checkUser, resolvePath } from './envd-paths.js';
import { guestCall } from './guest.js';
import type { ExitInfo, ProcessSub } from './poller.js';
import type { SandboxRecord } from './sandboxes.js';

const MAX_BACKLOG_BYTES = 8 << 20;
const NO_PTY = 'world-runtime serves no pseudo-terminals: run the command without pty (commands.run streams its output)';

interface Selector {
  pid?: number;
  tag?: string;
}

function selector(msg: Json): Selector {
  const p = obj(msg, 'process');
  if (!p) throw new ConnectError('invalid_argument', 'process (a pid or a tag) is required');
  const tag = str(p, 'tag');
  if (tag !== undefined) return { tag };
  const pid = int(p, 'pid');
  if (pid === undefined) throw new ConnectError('invalid_argument', 'process must name a pid or a tag');
  return { pid };
}

function endEvent(exit: ExitInfo): Json {
  const ok = exit.code === 0;
  return { event: { end: { exitCode: exit.code, exited: !exit.status.startsWith('signal'), status: exit.status, ...(ok ? {} : { error: exit.status }) } } };
}

/** Stream a process's output from the given offsets until it ends, the client leaves, or the timeout. */
function follow(rec: SandboxRecord, world: World, req: IncomingMessage, pid: number, uid: string, offsets: [number, number], stream: ServerStream, killAtTimeout: boolean): void {
  const poller = rec.pollerFor(world);
  let exited = false;
  const sub: ProcessSub = {
    kind: 'process',
    pid,
    outOff: offsets[0],
    errOff: offsets[1],
    onData: (s, data) => stream.send({ event: { data: { [s]: data.toString('base64') } } }),
    onExit: (exit) => {
      exited = true;
      stream.send(endEvent(exit));
      stream.end();
    },
    // The sandbox went away: cut the stream the way a dying sandbox does, so the SDK checks its health.
    onGone: (err) => (err.code === 'unavailable' ? stream.cut() : stream.end(err)),
    // A client that does not read is not sent more (the output waits in the world's files).
    full: () => stream.backlog > MAX_BACKLOG_BYTES,
  };
  const keepalive = setInterval(() => stream.send({ event: { keepalive: {} } }), keepaliveMs(req));
  const timeout = timeoutOf(req);
  const deadline = timeout
    ? setTimeout(() => {
        if (killAtTimeout && !exited && world.state === 'running') guestCall(world, 'signal', { pid, uid, signal: 9 }).catch(() => {});
        stream.end(new ConnectError('deadline_exceeded', `the command reached its timeout of ${timeout} ms${killAtTimeout ? ' and was killed' : ''}`));
      }, timeout)
    : undefined;
  rec.procFollowers.set(pid, (rec.procFollowers.get(pid) ?? 0) + 1);
  stream.onClose(() => {
    clearInterval(keepalive);
    // The client gives up at the same timeout and may leave first: the command is killed all the same.
    if (!killAtTimeout || exited) clearTimeout(deadline);
    poller.remove(sub);
    const left = (rec.procFollowers.get(pid) ?? 1) - 1;
    if (left > 0) rec.procFollowers.set(pid, left);
    else {
      rec.procFollowers.delete(pid);
      // Output of an ended command nobody follows any more is dropped; a running one keeps going.
      if (world.state === 'running') guestCall(world, 'forget', { pid, uid }).catch(() => {});
    }
  });
  poller.add(sub);
}

export async function start({ rec, req, msg }: RpcCall, stream: ServerStream): Promise<void> {
  checkUser(req.headers.authorization);
  if (field(msg, 'pty') !== undefined && field(msg, 'pty') !== null) throw new ConnectError('unimplemented', NO_PTY);
  const p = obj(msg, 'process');
  const cmd = p ? str(p, 'cmd') : undefined;
  if (!p || !cmd) throw new ConnectError('invalid_argument', 'process.cmd is required');
  const cwd = str(p, 'cwd');
  const args = {
    cmd,
    args: strList(p, 'args'),
    envs: strMap(p, 'envs'),
    cwd: cwd === undefined ? undefined : resolvePath(cwd),
    tag: str(msg, 'tag'),
    // StartRequest.stdin is optional and defaults to true (older SDKs never set it).
    stdin: field(msg, 'stdin') === undefined ? true : bool(msg, 'stdin'),
  };
  const world = rec.running();
  const { pid, uid } = await guestCall<{ pid: number; uid: string }>(world, 'spawn', args);
  stream.send({ event: { start: { pid } } });
  follow(rec, world, req, pid, uid, [0, 0], stream, true);
}

export async function connect({ rec, req, msg }: RpcCall, stream: ServerStream): Promise<void> {
  const world = rec.running();
  const info = await guestCall<{ pid: number; uid: string; sizes: [number, number] }>(world, 'pinfo', selector(msg));
  stream.send({ event: { start: { pid: info.pid } } });
  follow(rec, world, req, info.pid, info.uid, info.sizes, stream, false);
}

/** The unary process methods; undefined for one this service does not have as unary. */
export async function processUnary(method: string, { rec, msg }: RpcCall): Promise<Json | undefined> {
  const world = rec.running();
  switch (method) {
    case 'List': {
      const procs = await guestCall<Json[]>(world, 'plist', {});
      return { processes: procs };
    }
    case 'SendInput': {
      await sendInput(rec, world, selector(msg), obj(msg, 'input'));
      return {};
    }
    case 'SendSignal': {
      const sig = field(msg, 'signal');
      const n = sig === 'SIGNAL_SIGKILL' || sig === 9 ? 9 : sig === 'SIGNAL_SIGTERM' || sig === 15 ? 15 : 0;
      if (n === 0) throw new ConnectError('invalid_argument', `signal must be SIGNAL_SIGKILL or SIGNAL_SIGTERM, got ${JSON.stringify(sig)}`);
      await guestCall(world, 'signal', { ...selector(msg), signal: n });
      rec.poller?.kick();
      return {};
    }
    case 'CloseStdin':
      await guestCall(world, 'input', { ...selector(msg), data: '', close: true });
      return {};
    case 'Update':
      throw new ConnectError('unimplemented', NO_PTY);
    default:
      return undefined;
  }
}

async function sendInput(rec: SandboxRecord, world: World, sel: Selector, input: Json | undefined): Promise<void> {
  if (!input) throw new ConnectError('invalid_argument', 'input is required');
  if (field(input, 'pty') !== undefined) throw new ConnectError('unimplemented', NO_PTY);
  const data = bytes(input, 'stdin');
  await guestCall(world, 'input', { ...sel, data: data.toString('base64') });
  rec.poller?.kick();
}

/** StreamInput (client streaming): a start message naming the process, then input messages, in order. */
export async function streamInput(rec: SandboxRecord, req: IncomingMessage, maxBytes: number): Promise<void> {
  const world = rec.running();
  const reader = new FrameReader(maxBytes);
  let sel: Selector | undefined;
  let work = Promise.resolve();
  let failure: unknown;
  await new Promise<void>((resolve, reject) => {
    req.on('data', (chunk: Buffer) => {
      let frames: { flags: number; data: Buffer }[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        failure ??= err;
        return;
      }
      for (const f of frames) {
        work = work.then(async () => {
          if (failure) return;
          try {
            const m = parseMessage(f.data);
            const startMsg = obj(m, 'start');
            const dataMsg = obj(m, 'data');
            if (startMsg) sel = selector(startMsg);
            else if (dataMsg) {
              if (!sel) throw new ConnectError('invalid_argument', 'StreamInput needs a start message first');
              await sendInput(rec, world, sel, obj(dataMsg, 'input'));
            }
          } catch (err) {
            failure ??= err;
          }
        });
      }
    });
    req.once('end', () => resolve());
    req.once('error', reject);
  });
  await work;
  if (failure) throw failure;
}
