/** @module The e2b driver: worlds as E2B sandboxes (./driver.ts), loaded by openDriver on demand. */
export { E2bDriver, OWNER_KEY } from './driver.js';
export type { E2bDriverOptions } from './options.js';
