/**
 * @module
 * The ranges every number a caller passes is held to (docs/api.md lists them), in one leaf module so the
 * facade, the drivers, the daemon and the CLI check against the same figures.
 */
/** Longest exec/run timeout: 24 h. Node timers hold at most 2^31 − 1 ms and fire after 1 ms past that. */
export const MAX_TIMEOUT_MS = 86_400_000;
/** Most memory per world: 1 TiB. */
export const MAX_MEMORY_MIB = 1 << 20;
/** Most disk per world: 1 TiB. */
export const MAX_DISK_MIB = 1 << 20;
/** Disk per world unless `diskMib` says otherwise: 4 GiB. */
export const DEFAULT_DISK_MIB = 4096;
/** Most virtual CPUs per world. */
export const MAX_VCPUS = 256;
/** Most spares in each warm pool of the process driver. */
export const MAX_POOL = 64;
/** Longest snapshot name. */
export const MAX_SNAPSHOT_NAME = 200;
/** Deepest metadata, in levels of nested objects and arrays (the metadata object itself is level 1). */
export const MAX_METADATA_DEPTH = 32;
/** Largest metadata, as UTF-8 JSON: 64 KiB. */
export const MAX_METADATA_BYTES = 64 * 1024;
/** At most this many worlds per branch call: a guard against typos like 10000. */
export const MAX_BRANCH_COUNT = 1000;
/** Most live worlds a daemon holds at once unless `--max-worlds` says otherwise; creates and branches past it answer 503. */
export const DEFAULT_MAX_WORLDS = 256;
/** The range of the daemon's `--max-worlds` (`maxWorlds`): 1 to this. */
export const MAX_MAX_WORLDS = 1_000_000;
