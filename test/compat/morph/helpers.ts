/**
 * Fixtures for the Morph compatibility tests: a real daemon process with a loopback TCP listener and a
 * client that speaks its `/morph` routes as morph-typescript-sdk does (sdk.ts).
 */
import { type Spawned, startDaemon } from '../../server/helpers.js';
import { MorphClient } from './sdk.js';

export { waitFor } from '../../fixtures/wait.js';
export { rejection } from '../e2b/helpers.js';

export interface MorphDaemon {
  d: Spawned;
  /** http://127.0.0.1:PORT/morph: the SDK's `baseUrl`. */
  baseUrl: string;
  client: MorphClient;
}

export async function startMorphDaemon(args: string[] = []): Promise<MorphDaemon> {
  const d = await startDaemon({ listen: '127.0.0.1:0', args });
  const baseUrl = `${d.url as string}/morph`;
  return { d, baseUrl, client: new MorphClient(baseUrl, d.token) };
}
