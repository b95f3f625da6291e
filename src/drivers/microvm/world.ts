/**
 * @module
 * A microvm world as its driver knows it: its VM, its state, and the one-at-a-time queue of requests to its
 * guest agent. A request with no answer within its deadline means a hung guest: the world fails.
 */
import { RuntimeClosedError, WorldFailedError, WorldRuntimeError, WrongStateError } from '../../base/errors.js';
import type { WorldHandle } from '../driver.js';
import { agentError } from '../agent-protocol.js';
import { AgentFloodError, AgentReplyError } from './qmp.js';
import type { Vm } from './vm.js';

/** What a world needs of its driver. */
export interface WorldHost {
  readonly closed: boolean;
  /** Declare the world failed: kill its VM, tell the exit listeners. */
  fail(world: MicroWorld, reason: string): Promise<void>;
}

/** How long a world whose agent connection broke gets for its QEMU's exit to be seen. */
const EXIT_WAIT_MS = 3000;

export class MicroWorld implements WorldHandle {
  state: 'running' | 'failed' | 'destroyed' = 'running';
  failure?: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly id: string,
    readonly vm: Vm,
    readonly memoryMib: number,
    readonly vcpus: number,
    private readonly host: WorldHost,
  ) {}

  /** Throws unless the world can take a request. */
  check(operation: string): void {
    if (this.host.closed) throw new RuntimeClosedError();
    if (this.state === 'failed') throw new WorldFailedError(this.id, this.failure ?? 'unknown');
    if (this.state !== 'running') throw new WrongStateError('world', this.id, operation, this.state, ['running']);
  }

  /** Run operations one at a time (the agent serves one request at a time). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(() => {
      this.check('use');
      return fn();
    });
    this.queue = p.catch(() => {});
    return p;
  }

  /**
   * Send a request and wait for its reply's `result` (unchecked: agent-protocol.ts decodes it). With no reply
   * within `deadlineMs` the guest is hung: the world is killed and marked failed.
   */
  async ask(op: string, args: Record<string, unknown>, deadlineMs: number, onEvent?: (event: string, data: string) => void, budget?: number): Promise<unknown> {
    const { id, reply } = this.vm.agent.request(op, args, onEvent, budget);
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const reason = `guest hung: no answer to ${op} within ${deadlineMs} ms`;
        this.vm.agent.forget(id, new WorldFailedError(this.id, reason));
        void this.host.fail(this, reason);
        reject(new WorldFailedError(this.id, reason));
      }, deadlineMs);
    });
    try {
      return await Promise.race([reply, hung]);
    } catch (e) {
      if (e instanceof AgentReplyError) throw agentError(e.code, e.agentMessage);
      if (e instanceof AgentFloodError) {
        void this.host.fail(this, e.message);
        throw new WorldFailedError(this.id, e.message);
      }
      if (WorldRuntimeError.is(e) && e.code === 'WORLD_FAILED') throw e;
      if (this.host.closed) throw new RuntimeClosedError();
      // The agent connection broke: QEMU is most likely exiting (panic, crash, kill). Wait for its exit to
      // be recorded and report the world as failed.
      let wait: NodeJS.Timeout | undefined;
      const info = await Promise.race([this.vm.waitExit(), new Promise<null>((r) => (wait = setTimeout(() => r(null), EXIT_WAIT_MS)))]);
      clearTimeout(wait);
      if (info || this.state === 'failed') throw new WorldFailedError(this.id, this.failure ?? info?.reason ?? 'unknown');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}
