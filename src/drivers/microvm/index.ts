/**
 * @module
 * The microvm driver: worlds as QEMU microvm virtual machines (KVM when a stock kernel boots under it,
 * TCG otherwise), created as clones of a template snapshot and branched from RAM-file snapshots.
 * See docs/microvm.md.
 */

export { type AccelMode, type MicrovmAssets, type SetupOptions, setupMicrovm } from './assets.js';
export { MicrovmDriver, type MicrovmDriverOptions } from './driver.js';
