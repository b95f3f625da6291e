/**
 * @module
 * The microvm driver's warm pools, one vocabulary with the process driver's: **spares** are made ahead of time
 * and taken by the next call that needs one, and refilled in the background. Per (memory, vcpus) shape in use:
 *
 * - **spare worlds**: template clones already restored and answering, which `create` hands over (option
 *   `spareWorlds`, like the process driver's spare trees);
 * - **spare VMs**: QEMUs started and waiting at `-incoming defer` with no world in them yet, which every
 *   restore (a branch, or a create that found no spare world) takes, skipping QEMU's start-up (option
 *   `spareVms`).
 */
import type { Vm } from './vm.js';

/** What every world of one template or snapshot shares: the VM size. */
export interface Shape {
  memoryMib: number;
  vcpus: number;
}

export function shapeKey(s: Shape): string {
  return `${s.memoryMib}:${s.vcpus}`;
}

/** The spares of one kind, per shape. */
export class SparePool {
  private readonly spares = new Map<string, Vm[]>();
  private readonly refilling = new Set<string>();
  private closed = false;

  constructor(
    /** What one spare is, for messages: "spare VM", "spare world". */
    private readonly what: string,
    /** How many spares a shape should have now. */
    private readonly target: (key: string) => number,
    private readonly progress: (msg: string) => void,
  ) {}

  /** Top the shape's spares up to its target with `make`, one at a time in the background. */
  refill(shape: Shape, make: () => Promise<Vm>): void {
    const key = shapeKey(shape);
    if (this.closed || this.refilling.has(key)) return;
    const list = this.spares.get(key) ?? [];
    this.spares.set(key, list);
    if (list.length >= this.target(key)) return;
    this.refilling.add(key);
    void (async () => {
      try {
        while (!this.closed && list.length < this.target(key)) {
          let vm: Vm;
          try {
            vm = await make();
          } catch (e) {
            // Not an error of anyone's call: the next one makes its VM on the spot.
            if (!this.closed) this.progress(`a ${this.what} could not be made: ${(e as Error).message}`);
            break;
          }
          if (this.closed) {
            await vm.kill();
            break;
          }
          vm.setRef(false); // a spare must not keep the process alive (setRef in vm.ts)
          list.push(vm);
        }
      } finally {
        this.refilling.delete(key);
      }
    })();
  }

  /** A live spare of this shape, now the caller's; undefined when there is none. */
  take(shape: Shape): Vm | undefined {
    const list = this.spares.get(shapeKey(shape));
    while (list?.length) {
      const vm = list.shift() as Vm;
      vm.setRef(true);
      if (vm.alive) return vm;
    }
    return undefined;
  }

  /** Forget a spare whose QEMU exited. */
  remove(vm: Vm): void {
    for (const list of this.spares.values()) {
      const i = list.indexOf(vm);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** Spares ready now, all shapes together. */
  get size(): number {
    let n = 0;
    for (const list of this.spares.values()) n += list.length;
    return n;
  }

  /** No more refills; the spares' QEMUs are the caller's to kill. */
  close(): void {
    this.closed = true;
    this.spares.clear();
  }
}
