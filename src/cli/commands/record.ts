/**
 * @module
 * Reads of the DuckDB record: entities, branches, resolutions, metrics (p50/p99 beside the targets: create
 * ~250 ms, snapshot < 250 ms, branch < 250 ms).
 */
import { ENTITY_STATES, ENTITY_TYPES, type EntityState, type EntityType } from '../../base/types.js';
import { type Command, intOption, need, UsageError } from '../command.js';
import { cell, ms, table, time, trit } from '../format.js';

const LIMIT = { limit: { type: 'string', short: 'n' } } as const;
const LIMIT_HELP = '  -n, --limit N   at most N rows, newest first';

function oneOf<T extends string>(name: string, raw: unknown, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!allowed.includes(raw as T)) throw new UsageError(`--${name}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

/** First few ids of a list, then how many more. */
function ids(list: string[], show = 3): string {
  if (list.length === 0) return '-';
  return list.length <= show ? list.join(',') : `${list.slice(0, show).join(',')} +${list.length - show}`;
}

export const entities: Command = {
  name: 'entities',
  summary: 'list every world and snapshot ever recorded (world_runtime_entities)',
  usage: 'world-runtime entities [--state STATE] [--type TYPE] [--limit N]',
  options: { state: { type: 'string' }, type: { type: 'string' }, ...LIMIT },
  help: `Options:
  --state STATE   ${ENTITY_STATES.join(', ')}
  --type TYPE     ${ENTITY_TYPES.join(', ')}
${LIMIT_HELP}`,
  async run(ctx, v, pos) {
    need(pos, [], 0);
    const state = oneOf<EntityState>('state', v.state, ENTITY_STATES);
    const type = oneOf<EntityType>('type', v.type, ENTITY_TYPES);
    const limit = intOption(v, 'limit', 1, 100_000);
    const r = await (await ctx.client()).dispatch({
      kind: 'record.entities',
      ...(state ? { state } : {}),
      ...(type ? { type } : {}),
      ...(limit ? { limit } : {}),
    });
    if (ctx.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    ctx.out(
      table(
        ['ENTITY', 'TYPE', 'STATE', 'TRIT', 'PARENT', 'SNAPSHOT', 'BOOT', 'CREATED', 'RESOLVED'],
        r.entities.map((e) => [
          e.entityId,
          e.entityType,
          e.state,
          trit(e.trit),
          e.parentId,
          e.snapshotId,
          ms(e.bootTimeMs),
          time(e.createdAt),
          time(e.resolvedAt),
        ]),
      ),
    );
    return 0;
  },
};

export const branches: Command = {
  name: 'branches',
  summary: 'branch history (world_branches)',
  usage: 'world-runtime branches [--limit N]',
  options: LIMIT,
  help: `Options:\n${LIMIT_HELP}`,
  async run(ctx, v, pos) {
    need(pos, [], 0);
    const limit = intOption(v, 'limit', 1, 100_000);
    const r = await (await ctx.client()).dispatch({ kind: 'record.branches', ...(limit ? { limit } : {}) });
    if (ctx.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    ctx.out(
      table(
        ['BRANCH', 'TYPE', 'PARENT', 'N', 'CHILDREN', 'TIME', 'GF3', 'AT'],
        r.branches.map((b) => [
          b.branchId,
          b.branchType,
          b.parentEntityId,
          b.childEntityIds.length,
          ids(b.childEntityIds),
          ms(b.snapshotTimeMs),
          b.gf3Sum,
          time(b.branchedAt),
        ]),
      ),
    );
    return 0;
  },
};

export const resolutions: Command = {
  name: 'resolutions',
  summary: 'verse resolution history (verse_resolutions)',
  usage: 'world-runtime resolutions [--limit N]',
  options: LIMIT,
  help: `Options:\n${LIMIT_HELP}`,
  async run(ctx, v, pos) {
    need(pos, [], 0);
    const limit = intOption(v, 'limit', 1, 100_000);
    const r = await (await ctx.client()).dispatch({ kind: 'record.resolutions', ...(limit ? { limit } : {}) });
    if (ctx.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    ctx.out(
      table(
        ['RESOLUTION', 'WINNER', 'VERSES', 'ORACLE', 'WEV', 'PULL-UP', 'AT'],
        r.resolutions.map((x) => [x.resolutionId, x.winningVerse, ids(x.verses), x.oracleSource, cell(x.wevExtracted), ms(x.pullUpTimeMs), time(x.resolvedAt)]),
      ),
    );
    return 0;
  },
};

export const metrics: Command = {
  name: 'metrics',
  summary: 'p50/p99 per operation beside the targets (runtime_metrics)',
  usage: 'world-runtime metrics [--rows N]',
  options: { rows: { type: 'string' } },
  help: `Targets: create ~250 ms, snapshot < 250 ms, branch < 250 ms. OK means p99 is within it.
Options:
  --rows N   also list the N most recent runtime_metrics rows`,
  async run(ctx, v, pos) {
    need(pos, [], 0);
    const rows = intOption(v, 'rows', 0, 100_000, 0) as number;
    const r = await (await ctx.client()).dispatch({ kind: 'record.metrics', limit: rows });
    if (ctx.json) {
      ctx.out(JSON.stringify(r, null, 2));
      return 0;
    }
    const num = (x: number | null, unit: string) => (x === null ? '-' : unit === 'ms' ? ms(x) : `${cell(x)} ${unit}`);
    ctx.out(
      table(
        ['OPERATION', 'COUNT', 'P50', 'P99', 'MAX', 'TARGET', 'STATUS'],
        r.summary.map((s) => [
          s.operation,
          s.count,
          num(s.p50, s.unit),
          num(s.p99, s.unit),
          num(s.max, s.unit),
          s.targetMs === null ? '-' : `${s.operation === 'create' ? '~' : '<'}${s.targetMs} ms`,
          s.withinTarget === null ? '-' : s.withinTarget ? 'OK' : 'OVER',
        ]),
      ),
    );
    if (rows > 0) {
      ctx.out(
        `\n${table(
          ['METRIC', 'ENTITY', 'BOOT', 'SNAPSHOT', 'BRANCH', 'MEMORY', 'AT'],
          r.rows.map((m) => [
            m.metricId,
            m.entityId,
            ms(m.bootTimeMs),
            ms(m.snapshotTimeMs),
            ms(m.branchTimeMs),
            m.memoryOverheadMb === null ? '-' : `${cell(m.memoryOverheadMb)} MB`,
            time(m.measuredAt),
          ]),
        )}`,
      );
    }
    return 0;
  },
};
