/**
 * @module
 * The morph driver (driver.ts), opened with its options filled from the environment (base/config.ts).
 */
import { env } from '../../base/config.js';
import { InvalidArgumentError } from '../../base/errors.js';
import { MorphDriver, type MorphDriverOptions } from './driver.js';
import { MORPH_CLOUD_URL } from './rest.js';

export { MorphDriver, type MorphDriverOptions } from './driver.js';

export function openMorphDriver(o: Partial<MorphDriverOptions>): MorphDriver {
  const apiKey = o.apiKey ?? env('MORPH_API_KEY');
  if (!apiKey) throw new InvalidArgumentError("driver 'morph' needs an API key: the option morph.apiKey or $MORPH_API_KEY");
  return new MorphDriver({ ...o, apiKey, baseUrl: o.baseUrl ?? env('MORPH_BASE_URL') ?? MORPH_CLOUD_URL });
}
