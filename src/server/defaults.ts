/**
 * @module
 * The daemon's default limits, in a module light enough for the CLI to import.
 */

/** Most live worlds at once; create/branch past it answer 503. */
export const DEFAULT_MAX_WORLDS = 256;

/** Largest request body accepted (file uploads included): 8 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
