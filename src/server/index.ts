/**
 * @module
 * The daemon and HTTP API (DESIGN §7): `Daemon` (start/close), `serve` (foreground with signals),
 * `DaemonClient` (a typed client over the unix socket or loopback TCP), the `WorldAction` set and the spec.
 */

export type { ActionKind, ActionOf, BranchFields, WorldAction } from './actions.js';
export { ACTION_KINDS, CREATING_ACTIONS, STREAMING_ACTIONS } from './actions.js';
export type { ClientOptions, DispatchOptions } from './client.js';
export { DaemonClient, DaemonUnreachableError, faultToError } from './client.js';
export { parseAmount } from './convert.js';
export type { DaemonOptions } from './daemon.js';
export { Daemon, probeDaemon } from './daemon.js';
export { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_WORLDS } from './defaults.js';
export type { WireRequest } from './encode.js';
export { requestFor } from './encode.js';
export type { ActionIO, ExecutorOptions } from './execute.js';
export { Executor } from './execute.js';
export { isLoopback, parseListen } from './listen.js';
export type { HomePaths } from './paths.js';
export { homePaths, resolveHome } from './paths.js';
export type { FaultBody, Reply } from './reply.js';
export { errorReply, HttpFault, resultReply, STATUS_BY_CODE, STATUS_BY_LEDGER_REASON, statusOf } from './reply.js';
export type * from './results.js';
export { METRIC_TARGETS_MS } from './results.js';
export type { OpenApiDoc, Schema } from './schema.js';
export { OPENAPI, problems, validateBody } from './schema.js';
export type { ServeOptions } from './serve.js';
export { serve } from './serve.js';
