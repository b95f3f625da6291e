/**
 * Where the e2b driver sends its calls: each setting from the driver's options, else from the SDK's own
 * environment variables (read through base/config.ts), else E2B's defaults. Resolved once, and always
 * passed to the SDK explicitly, so what doctor shows is what the SDK uses.
 */
import { env } from '../../base/config.js';

export interface E2bDriverOptions {
  /** @default $E2B_API_KEY */
  apiKey?: string;
  /** Control plane. @default $E2B_API_URL, else https://api.<domain> */
  apiUrl?: string;
  /** Where sandbox traffic (envd, code interpreter) goes. @default $E2B_SANDBOX_URL, else the SDK's per-sandbox host under the domain */
  sandboxUrl?: string;
  /** @default $E2B_DOMAIN, else e2b.app */
  domain?: string;
  /** Template of `create`. @default 'code-interpreter-v1' */
  template?: string;
  /** Budget of one control-plane request, in ms. @default 30000 */
  requestTimeoutMs?: number;
}

export interface E2bEndpoint {
  apiKey: string | undefined;
  apiUrl: string;
  sandboxUrl: string | undefined;
  domain: string;
  template: string;
  requestTimeoutMs: number;
}

export const DEFAULT_TEMPLATE = 'code-interpreter-v1';
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export function resolveEndpoint(o: E2bDriverOptions = {}): E2bEndpoint {
  const domain = o.domain ?? env('E2B_DOMAIN') ?? 'e2b.app';
  return {
    apiKey: o.apiKey ?? env('E2B_API_KEY'),
    apiUrl: (o.apiUrl ?? env('E2B_API_URL') ?? `https://api.${domain}`).replace(/\/+$/, ''),
    sandboxUrl: (o.sandboxUrl ?? env('E2B_SANDBOX_URL'))?.replace(/\/+$/, ''),
    domain,
    template: o.template ?? DEFAULT_TEMPLATE,
    requestTimeoutMs: o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
}

/** The SDK's connection options for an endpoint: every field explicit, the SDK's own retries off (ours are per operation). */
export function connection(e: E2bEndpoint) {
  return {
    apiKey: e.apiKey,
    apiUrl: e.apiUrl,
    sandboxUrl: e.sandboxUrl,
    domain: e.domain,
    requestTimeoutMs: e.requestTimeoutMs,
    debug: false,
    retries: 0,
  };
}
