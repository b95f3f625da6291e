/**
 * @module
 * The JSON the web view's own endpoints answer (/ui/api/tree, /ui/api/node/…, /ui/api/events): facts about
 * worlds, snapshots, push-down events and balances. Types only: the daemon's side (src/ui) and the page
 * (src/ui/web) both read it, and nothing of it exists at run time. The page derives the tree's shape from
 * these facts (a snapshot hangs under its world, a branched world under its snapshot, a verse world under
 * its event), so a live update is one fact replaced, never a new tree.
 */

export type Trit = -1 | 0 | 1;

/** A world or a snapshot, live or as the record last saw it. */
export interface WorldNode {
  id: string;
  kind: 'world' | 'snapshot';
  /** The record's entity type: `sandbox` (process driver), `microvm`, `verse`, `snapshot`. */
  type: string;
  /** World: the world it was branched from. Snapshot: the world it froze. */
  parentId: string | null;
  /** World: the snapshot it was started from. */
  snapshotId: string | null;
  /** running, failed, destroyed, collapsed, lost; snapshots: ready, destroyed, lost. */
  state: string;
  /** Held by this daemon now; false for what only the record remembers. */
  live: boolean;
  trit: Trit | null;
  /** Snapshot name, or a verse world's verse name. */
  name: string | null;
  memoryMib: number | null;
  diskMib: number | null;
  vcpus: number | null;
  /** What it uses now (live only; null where the driver cannot tell). */
  memoryBytes: number | null;
  diskBytes: number | null;
  bootTimeMs: number | null;
  snapshotTimeMs: number | null;
  createdAt: string | null;
  endedAt: string | null;
  failure: string | null;
}

export interface EventVerseNode {
  /** Ledger verse id, `<event>/<name>`. */
  verse: string;
  name: string;
  trit: Trit;
  probability: string;
  collapsed: boolean;
  outcome: boolean | null;
  /** The verse's world, when anyone knows it. */
  worldId: string | null;
}

/** A push-down event: a fan of verses under the snapshot it was taken at. */
export interface EventNode {
  id: string;
  parentVerse: string;
  sourceWorldId: string | null;
  snapshotId: string | null;
  gf3Sum: number;
  state: 'open' | 'resolved' | 'collapsed';
  /** Winning verse id once resolved. */
  winner: string | null;
  oracleSource: string | null;
  /** Per asset, the balance that evaporated at resolution (decimal strings). */
  wev: Record<string, string> | null;
  live: boolean;
  verses: EventVerseNode[];
}

export interface Balance {
  verse: string;
  owner: string;
  asset: string;
  /** Decimal string; `'0'` in an update means the entry is gone. */
  amount: string;
}

/** GET /ui/api/tree: everything the tree shows, as of feed sequence `seq`. */
export interface TreeSnapshot {
  seq: number;
  daemon: { pid: number; version: string; driver: string; home: string; startedAt: string; maxWorlds: number };
  nodes: WorldNode[];
  events: EventNode[];
  balances: Balance[];
  /** Older record rows were left out (the tree shows the newest few thousand worlds and snapshots). */
  truncated: boolean;
}

/** One exec this daemon ran, its texts cut to a few KiB. */
export interface ExecEntry {
  world: string;
  at: string;
  code: string;
  stdout: string;
  stderr: string;
  value: string | null;
  error: { type: string; message: string } | null;
  durationMs: number;
  truncated: boolean;
}

/** GET /ui/api/node/{id}: one world or snapshot. */
export interface NodeDetails {
  node: WorldNode;
  /** The ledger verse it lives in (`root` for a world outside any push-down). */
  verse: string;
  balances: Balance[];
  /** The newest first. */
  execs: ExecEntry[];
  /** The push-down event it is a verse of, when it is one. */
  event: EventNode | null;
  /** Events pushed down from it (or taken at this snapshot). */
  children: EventNode[];
}

/** GET /ui/api/event/{id}. */
export interface EventDetails {
  event: EventNode;
  /** Balances in the event's parent verse and in each child verse. */
  balances: Balance[];
}

/** GET /ui/api/capacity. */
export interface Capacity {
  liveWorlds: number;
  maxWorlds: number;
  snapshots: number;
  memory: { totalBytes: number; availableBytes: number };
  disk: { path: string; totalBytes: number; freeBytes: number } | null;
}

/** Server-sent events of GET /ui/api/events: `data` of each, by event name. */
export interface FeedMessages {
  /** First message: the feed's sequence now (fetch the tree, then apply the updates with a higher seq). */
  hello: { seq: number; startedAt: string };
  node: { seq: number; node: WorldNode };
  event: { seq: number; event: EventNode };
  balances: { seq: number; balances: Balance[] };
  exec: { seq: number; exec: ExecEntry };
}
