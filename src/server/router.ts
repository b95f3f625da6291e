/**
 * @module
 * Matches a method and path against the routes of the action table (src/protocol/actions.ts). A path that
 * exists with another method is a 405 (with `Allow`), one that does not exist a 404.
 */
import { InvalidArgumentError } from '../base/errors.js';
import type { Route } from '../protocol/actions.js';
import type { HttpMethod } from '../protocol/wire.js';
import { methodNotAllowed, noRoute } from './reply.js';

interface Compiled {
  route: Route;
  regex: RegExp;
  names: string[];
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

function compile(route: Route): Compiled {
  const names: string[] = [];
  const parts = route.path.split('/').map((seg, i, all) => {
    const m = /^\{(\w+)\}$/.exec(seg);
    if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    names.push(m[1] as string);
    // A trailing {path} takes the rest, slashes included (file paths inside a world).
    return i === all.length - 1 && m[1] === 'path' ? '(.+)' : '([^/]+)';
  });
  return { route, regex: new RegExp(`^${parts.join('/')}$`), names };
}

export class Router {
  private readonly compiled: Compiled[];

  constructor(routes: readonly Route[]) {
    this.compiled = routes.map(compile);
  }

  /** The route for `method path`, with its URL-decoded parameters; throws a 404 or 405 fault. */
  match(method: string, path: string): Match {
    const allowed: HttpMethod[] = [];
    for (const c of this.compiled) {
      const m = c.regex.exec(path);
      if (!m) continue;
      if (c.route.method !== method) {
        allowed.push(c.route.method);
        continue;
      }
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => {
        const raw = m[i + 1] as string;
        try {
          params[name] = decodeURIComponent(raw);
        } catch {
          throw new InvalidArgumentError(`path parameter ${name}: malformed percent-encoding in ${JSON.stringify(raw)}`);
        }
      });
      return { route: c.route, params };
    }
    if (allowed.length > 0) throw methodNotAllowed(method, path, allowed);
    throw noRoute(method, path);
  }
}
