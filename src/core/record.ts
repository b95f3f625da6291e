/**
 * @module
 * What the facade writes to the DuckDB record for each operation. Every call here only queues rows (the store
 * writes them behind, in batches), so nothing on the create/snapshot/branch path waits for the database.
 */
import { newId } from '../base/ids.js';
import type { Store } from '../store/index.js';
import type { Trit } from '../base/types.js';
import type { VerseWorld } from './verses.js';
import type { Snapshot, World } from './world.js';

/** Sum of the trits given, or null when none was. */
export function gf3Sum(trits: readonly (Trit | null)[]): number | null {
  const given = trits.filter((t): t is Trit => t !== null);
  return given.length === 0 ? null : given.reduce<number>((a, b) => a + b, 0);
}

export class Recorder {
  constructor(
    readonly store: Store,
    private readonly entityType: 'sandbox' | 'microvm',
  ) {}

  worldCreated(w: World, type: 'sandbox' | 'microvm' | 'verse' = this.entityType): void {
    this.store.recordEntity({
      entityId: w.id,
      entityType: type,
      parentId: w.parentId,
      snapshotId: w.snapshotId,
      trit: w.trit,
      memoryMib: w.memoryMib,
      vcpuCount: w.vcpus,
      bootTimeMs: w.bootTimeMs,
      createdAt: w.createdAt,
    });
  }

  created(w: World): void {
    this.worldCreated(w);
    this.store.recordMetric({ entityId: w.id, bootTimeMs: w.bootTimeMs });
  }

  snapshotted(s: Snapshot): void {
    this.store.recordEntity({ entityId: s.id, entityType: 'snapshot', parentId: s.worldId, state: 'snapshotted', createdAt: s.createdAt });
    this.store.recordBranch({
      branchId: newId('b'),
      parentEntityId: s.worldId,
      childEntityIds: [s.id],
      branchType: 'snapshot',
      snapshotTimeMs: s.snapshotTimeMs,
    });
    this.store.recordMetric({ entityId: s.worldId, snapshotTimeMs: s.snapshotTimeMs });
  }

  branched(parentEntityId: string, children: World[], branchTimeMs: number, type: 'fork' | 'push_down' = 'fork', snapshotTimeMs: number | null = null): void {
    for (const c of children) this.worldCreated(c, type === 'push_down' ? 'verse' : this.entityType);
    this.store.recordBranch({
      branchId: newId('b'),
      parentEntityId,
      childEntityIds: children.map((c) => c.id),
      branchType: type,
      snapshotTimeMs,
      gf3Sum: gf3Sum(children.map((c) => c.trit)),
    });
    this.store.recordMetric({ entityId: parentEntityId, branchTimeMs });
  }

  /** Which world lives in each verse of a push-down (`verse_worlds`), for runtimes opened later. */
  verseWorlds(event: string, sourceWorldId: string, snapshotId: string, verses: readonly VerseWorld[]): void {
    for (const v of verses) {
      this.store.recordVerseWorld({ verse: v.verse, event, worldId: v.world.id, sourceWorldId, snapshotId, diskMib: v.world.diskMib });
    }
  }

  ended(id: string, state: 'destroyed' | 'failed' | 'collapsed'): void {
    this.store.updateEntity(id, { state, resolvedAt: new Date() });
  }
}
