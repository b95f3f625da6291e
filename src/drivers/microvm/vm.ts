/**
 * @module
 * One QEMU microvm process: spawn (cold boot or restore from a snapshot), QMP, the guest agent channel,
 * saving its state, and noticing its death.
 *
 * Guest RAM is a `memory-backend-file` with `share=on` on tmpfs, one file per VM. With the migration
 * capability `x-ignore-shared`, QEMU leaves shared RAM out of the migration stream, so a snapshot is the
 * RAM file (copied) plus ≈50 KB of device state, and a restore maps a copy of that RAM file and loads the
 * device state with `migrate-incoming`. The device state goes over unix sockets to and from this process.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { DriverError } from '../../base/errors.js';
import { AgentClient, Qmp } from './qmp.js';
import { sleep, sparseCopy, Tail } from './util.js';
import { env } from '../../base/config.js';

export type Accel = 'kvm' | 'tcg';

export interface VmConfig {
  /** Short name used in file names and messages. */
  name: string;
  qemu: string;
  /** `setpriv` path: QEMU is started under `setpriv --pdeathsig KILL` so it dies with its parent. */
  setpriv: string | null;
  accel: Accel;
  memoryMib: number;
  vcpus: number;
  kernel: string;
  initrd: string;
  sysImage: string;
  cmdline: string;
  /** The VM's own RAM file (tmpfs); QEMU creates it. */
  ramPath: string;
  agentSock: string;
  consolePath: string;
  /** Written with QEMU's pid so a supervisor can kill it if this process is killed. */
  pidPath: string;
  /**
   * Start with `-incoming defer`: the VM waits (not booted) until `restore()` loads a snapshot into it.
   * Its RAM file is created empty by QEMU; the snapshot's RAM is copied into it in place before restore().
   */
  restorable?: boolean;
  /** Copies a sparse RAM file (see copier.ts); `cp --sparse=auto` when absent. */
  copy?: (src: string, dst: string) => Promise<unknown>;
}

/**
 * `panic=-1` reboots at once on a panic and `reboot=t` makes that reboot a triple fault, which QEMU turns into
 * a reset, and `-no-reboot` into an exit: a panicked guest ends its QEMU. (The default reboot order ends in a
 * jump to the firmware, which QEMU never sees.) `tsc_early_khz` avoids a hang at boot under TCG.
 */
/** Longest a QEMU step (start, restore, save) may take before the VM is given up on. */
const OP_TIMEOUT_MS = 60_000;

export const KERNEL_CMDLINE = 'console=ttyS0 panic=-1 reboot=t quiet nokaslr tsc_early_khz=2000000';

/** The guest CPU model: the host's under KVM; under TCG `max` unless WORLD_RUNTIME_MICROVM_CPU says otherwise. */
export function cpuModel(accel: Accel): string {
  return accel === 'kvm' ? 'host' : (env('WORLD_RUNTIME_MICROVM_CPU') ?? 'max');
}

export function qemuArgs(c: VmConfig): string[] {
  const args = [
    '-machine',
    'microvm,memory-backend=mem',
    '-accel',
    c.accel,
    '-cpu',
    cpuModel(c.accel),
    '-smp',
    String(c.vcpus),
    '-m',
    `${c.memoryMib}M`,
    '-object',
    `memory-backend-file,id=mem,size=${c.memoryMib}M,mem-path=${c.ramPath},share=on`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    // seccomp: a guest that broke into QEMU still cannot exec, gain privileges or use obsolete syscalls.
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-kernel',
    c.kernel,
    '-initrd',
    c.initrd,
    '-append',
    c.cmdline,
    '-serial',
    `file:${c.consolePath}`,
    '-chardev',
    'stdio,id=qmp,signal=off',
    '-mon',
    'chardev=qmp,mode=control',
    '-drive',
    `file=${c.sysImage},if=none,id=sys,format=raw,readonly=on`,
    '-device',
    'virtio-blk-device,drive=sys',
    // Free page reporting: the guest tells QEMU which free 2 MiB blocks it no longer uses, and QEMU punches
    // them out of the RAM file, so snapshots and clones copy only memory in use.
    '-device',
    'virtio-balloon-device,free-page-reporting=on',
    '-device',
    'virtio-serial-device,max_ports=2',
    '-chardev',
    `socket,id=agent,path=${c.agentSock},server=on,wait=off`,
    '-device',
    'virtserialport,chardev=agent,name=agent',
  ];
  if (c.restorable) args.push('-incoming', 'defer');
  return args;
}

export interface VmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why, in words: guest reset/panic, shutdown, killed, ... */
  reason: string;
}

/**
 * A running QEMU. Emits `exit` (VmExit) once when the process is gone, whether asked or not.
 */
/** Connect to a unix socket, write `data`, close; resolves when the peer has it all. */
function sendAll(sock: string, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    s.once('error', reject);
    s.once('connect', () => {
      s.end(data, () => resolve());
    });
  });
}

export class Vm extends EventEmitter {
  readonly config: VmConfig;
  private child!: ChildProcessByStdio<Writable, Readable, Readable>;
  private qmp!: Qmp;
  agent!: AgentClient;
  private sock: net.Socket | null = null;
  private readonly stderr = new Tail(2048);
  private shutdownReason: string | null = null;
  private exitInfo: VmExit | null = null;
  private exiting = false;
  private readonly exited: Promise<VmExit>;
  private resolveExited!: (e: VmExit) => void;
  /** Set when we kill it on purpose: the exit is then not a failure. */
  expectingExit = false;
  pid = 0;
  /** Milestones of start() in ms since it began (for profiling and the bench). */
  readonly marks: Record<string, number> = {};

  constructor(config: VmConfig) {
    super();
    this.config = config;
    this.exited = new Promise((r) => {
      this.resolveExited = r;
    });
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  /**
   * Spawn QEMU and negotiate QMP; connect the agent socket. A cold boot starts running at once; a
   * `restorable` VM waits for restore().
   */
  async start(): Promise<void> {
    const c = this.config;
    const t0 = performance.now();
    const args = qemuArgs(c);
    const [file, argv] = c.setpriv ? [c.setpriv, ['--pdeathsig', 'KILL', '--', c.qemu, ...args]] : [c.qemu, args];
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.pid = child.pid ?? 0;
    const spawnError = new Promise<never>((_, reject) => {
      child.once('error', (e) => {
        reject(new DriverError(`cannot start ${c.qemu}: ${e.message}`, e));
        if (!this.pid) void this.onExit(null, null); // never ran: nothing else will say it is gone
      });
    });
    spawnError.catch(() => {});
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => this.stderr.push(d));
    this.qmp = new Qmp(child.stdin, child.stdout);
    this.qmp.on('SHUTDOWN', (data: Record<string, unknown>) => {
      this.shutdownReason = String(data.reason ?? 'shutdown');
    });
    this.qmp.on('GUEST_PANICKED', () => {
      this.shutdownReason = 'guest-panic';
    });
    // 'exit' can come before the last QMP lines (the SHUTDOWN event) are read: wait for 'close' too.
    child.on('exit', (code, signal) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        void this.onExit(code, signal);
      };
      child.once('close', finish);
      setTimeout(finish, 300).unref();
    });

    this.qmp.once('greeting', () => {
      this.marks.greeting = performance.now() - t0;
    });
    // Only now (every listener in place: an exit during an await is never missed) record the pid.
    if (this.pid) await fs.writeFile(c.pidPath, String(this.pid)).catch(() => {});
    const ready = (async () => {
      await this.qmp.command('qmp_capabilities');
      await this.qmp.command('migrate-set-capabilities', {
        capabilities: [
          { capability: 'x-ignore-shared', state: true },
          { capability: 'events', state: true },
        ],
      });
      await this.connectAgent();
      this.marks.ready = performance.now() - t0;
    })();
    await this.guard(ready, spawnError);
  }

  /**
   * Race an operation against QEMU's death (and a spawn error) and a deadline: no step may wait forever
   * on a QEMU that stopped answering.
   */
  private async guard<T>(p: Promise<T>, also?: Promise<never>, what = 'start', ms = OP_TIMEOUT_MS): Promise<T> {
    const died = this.exited.then((e) => Promise.reject(this.startError(e)));
    died.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new DriverError(
            `QEMU (${this.config.name}) did not finish ${what} within ${ms} ms (milestones ${JSON.stringify(this.marks)}; stderr: ${this.stderr.toString().trim().slice(-300) || 'none'})`,
          ),
        );
      }, ms);
    });
    try {
      return await Promise.race(also ? [p, died, late, also] : [p, died, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Load a snapshot's device state into a `restorable` VM (its RAM file must already hold the snapshot's
   * RAM) and let it run. The state (≈60 KB) is streamed to QEMU over a unix socket: no shell, no file.
   */
  async restore(state: Uint8Array): Promise<void> {
    const t0 = performance.now();
    const sock = `${this.config.ramPath}.in`;
    const work = (async () => {
      await fs.rm(sock, { force: true });
      const done = this.migrationDone();
      done.catch(() => {});
      await this.qmp.command('migrate-incoming', { uri: `unix:${sock}` });
      await Promise.all([done, sendAll(sock, state)]);
      this.marks.migrated = performance.now() - t0;
      // The snapshot was taken stopped, and that run state travels with it: start it explicitly.
      await this.resume();
      this.marks.running = performance.now() - t0;
    })();
    try {
      await this.guard(work, undefined, 'restoring a snapshot');
    } finally {
      await fs.rm(sock, { force: true });
    }
  }

  private startError(e: VmExit): Error {
    return new DriverError(`QEMU (${this.config.name}) exited: ${e.reason}`);
  }

  private migrationDone(): Promise<void> {
    return new Promise((resolve, reject) => {
      const on = (data: Record<string, unknown>) => {
        const status = String(data.status);
        if (status === 'completed') {
          this.qmp.off('MIGRATION', on);
          resolve();
        } else if (status === 'failed' || status === 'cancelled') {
          this.qmp.off('MIGRATION', on);
          this.qmp
            .command('query-migrate')
            .then((q) => reject(new DriverError(`migration ${status}: ${String(q['error-desc'] ?? 'no detail')}`)))
            .catch(() => reject(new DriverError(`migration ${status}`)));
        }
      };
      this.qmp.on('MIGRATION', on);
    });
  }

  private async connectAgent(): Promise<void> {
    const path = this.config.agentSock;
    for (let i = 0; ; i++) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        sock.on('error', () => {});
        sock.on('close', () => this.agent.close(new DriverError('agent connection closed')));
        this.sock = sock;
        this.agent = new AgentClient(sock, sock);
        return;
      } catch (e) {
        if (i > 400 || !this.alive) throw new DriverError(`cannot connect to the agent socket ${path}: ${(e as Error).message}`);
        await sleep(5);
      }
    }
  }

  /**
   * Save the VM's state: stop it, receive its device state (RAM left out: x-ignore-shared) over a unix
   * socket while copying its RAM file to `ramPath`; then let it run again unless `keepStopped`.
   */
  async save(ramPath: string, keepStopped = false): Promise<Buffer> {
    const sock = `${this.config.ramPath}.out`;
    await fs.rm(sock, { force: true });
    const server = net.createServer();
    const received = new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (c) => {
        const chunks: Buffer[] = [];
        c.on('data', (d: Buffer) => chunks.push(d));
        c.on('end', () => resolve(Buffer.concat(chunks)));
        c.on('error', reject);
      });
      server.once('error', reject);
    });
    received.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sock, () => resolve());
    });
    try {
      await this.guard(this.qmp.command('stop'), undefined, 'stop');
      try {
        const done = this.migrationDone();
        done.catch(() => {});
        // RAM is frozen once stopped: copy it while QEMU sends the device state.
        const copy = (this.config.copy ?? sparseCopy)(this.config.ramPath, ramPath);
        copy.catch(() => {});
        return await this.guard(
          (async () => {
            await this.qmp.command('migrate', { uri: `unix:${sock}` });
            const [, state] = await Promise.all([done, received, copy]);
            return state;
          })(),
          undefined,
          'saving its state',
        );
      } finally {
        if (!keepStopped && this.alive) await this.guard(this.resume(), undefined, 'cont');
      }
    } finally {
      server.close();
      await fs.rm(sock, { force: true });
    }
  }

  /** `cont`, retried while QEMU is still finishing the migration that just completed. */
  private async resume(): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await this.qmp.command('cont');
        return;
      } catch (e) {
        if (i > 200 || !/not finalized/i.test((e as Error).message)) throw e;
        await sleep(2);
      }
    }
  }

  /**
   * Whether this VM keeps the Node process alive. Worlds do; spares (pools.ts) do not (a process
   * whose worlds are all gone may exit without close(); PDEATHSIG and the supervisor clean up after it).
   */
  setRef(on: boolean): void {
    const handles: ({ ref?: () => void; unref?: () => void } | null | undefined)[] = [
      this.child as unknown as { ref(): void; unref(): void },
      this.child?.stdin as unknown as { ref?: () => void; unref?: () => void },
      this.child?.stdout as unknown as { ref?: () => void; unref?: () => void },
      this.child?.stderr as unknown as { ref?: () => void; unref?: () => void },
      this.sock,
    ];
    for (const h of handles) {
      if (on) h?.ref?.();
      else h?.unref?.();
    }
  }

  /** Kill QEMU (SIGKILL) and wait until it is gone. */
  async kill(): Promise<VmExit> {
    this.expectingExit = true;
    if (this.alive) {
      try {
        this.child?.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    return this.exited;
  }

  waitExit(): Promise<VmExit> {
    return this.exited;
  }

  /** The last lines the guest printed on its serial console. */
  async consoleTail(max = 1500): Promise<string> {
    try {
      const fh = await fs.open(this.config.consolePath, 'r');
      try {
        const { size } = await fh.stat();
        const len = Math.min(size, max);
        const buf = Buffer.alloc(len);
        await fh.read(buf, 0, len, size - len);
        return buf.toString('utf8');
      } finally {
        await fh.close();
      }
    } catch {
      return '';
    }
  }

  private async onExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.exitInfo || this.exiting) return;
    this.exiting = true;
    let reason: string;
    if (this.expectingExit) reason = 'destroyed';
    else if (this.shutdownReason === 'guest-reset' || this.shutdownReason === 'guest-panic') {
      const tail = await this.consoleTail(6000);
      const panic = /Kernel panic[^\n]*/.exec(tail)?.[0];
      reason = `guest ${this.shutdownReason === 'guest-panic' || panic ? 'panicked' : 'reset'}${panic ? ` (${panic.trim()})` : ''}`;
    } else if (this.shutdownReason) {
      const tail = await this.consoleTail(300);
      const agent = /init: agent exited[^\n]*/.exec(tail)?.[0];
      reason = `guest shut down (${this.shutdownReason})${agent ? `: ${agent}` : ''}`;
    } else if (signal) reason = `QEMU killed by ${signal}`;
    else reason = `QEMU exited with code ${code}${this.stderr.toString().trim() ? `: ${this.stderr.toString().trim().split('\n').slice(-3).join(' | ')}` : ''}`;
    const info: VmExit = { code, signal, reason };
    this.exitInfo = info;
    const err = new DriverError(`VM ${this.config.name} is gone: ${reason}`);
    this.qmp?.close(err);
    this.agent?.close(err);
    this.sock?.destroy();
    this.resolveExited(info);
    this.emit('exit', info);
  }
}
