/**
 * @module
 * What an action handler is: one function per action kind, from the action (and how it may talk back while
 * it runs) to its result. The executor (execute.ts) is one `HandlerSet` over every kind, made of its own
 * handlers and those of execute-verses.ts and execute-ledger.ts, which import only this module and what
 * they are given.
 */
import type { ActionKind, ActionOf, ResultOf } from '../protocol/actions.js';

/** How an action talks back while it runs (streaming actions only). */
export interface ActionIO {
  /** Each chunk of output as it is produced. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  /** Called once the action passed its checks and started; a streaming reply commits to 200 here. */
  onStarted?: () => void;
  /** How the request came in (reported by health). @default 'unix' */
  transport?: 'unix' | 'tcp';
}

/** One handler per action kind in `K`. */
export type HandlerSet<K extends ActionKind> = { [P in K]: (action: ActionOf<P>, io: ActionIO) => Promise<ResultOf<P>> };
