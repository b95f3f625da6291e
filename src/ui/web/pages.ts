/**
 * @module
 * A node's page, beside the tree: a world's or snapshot's facts and timings, the balances of the verse it
 * lives in, its last execs, and what can be done to it (exec Python, snapshot, branch N, push down,
 * destroy); an event's verses, winner and WEV, with pull-up by outcome or score. Every action is one daemon
 * action (`/ui/api/v1/…`); what destroys asks first. The page refreshes itself when an update names it.
 */
import { v1, view } from './api.js';
import { age, amounts, bytes, clear, h, ms, put, trit, when } from './dom.js';
import type { Balance, EventDetails, EventNode, ExecEntry, NodeDetails, WorldNode } from './model.js';

export interface PageHost {
  /** Ask before something destructive; resolves true to go ahead. */
  confirm(title: string, text: string): Promise<boolean>;
  /** Show another node's page. */
  go(hash: string): void;
  status(text: string): void;
}

function rows(pairs: [string, string | Node][]): HTMLTableElement {
  return h('table', {}, h('tbody', {}, ...pairs.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v)))));
}

function balanceTable(list: Balance[], withVerse = false): Node {
  if (list.length === 0) return h('p', { class: 'muted' }, 'No balances.');
  return h(
    'table',
    { class: 'balances' },
    h('thead', {}, h('tr', {}, withVerse ? h('th', {}, 'Verse') : null, h('th', {}, 'Owner'), h('th', {}, 'Asset'), h('th', { class: 'num' }, 'Amount'))),
    h(
      'tbody',
      {},
      ...list.map((b) => h('tr', {}, withVerse ? h('td', {}, b.verse) : null, h('td', {}, b.owner), h('td', {}, b.asset), h('td', { class: 'num' }, b.amount))),
    ),
  );
}

function execView(x: ExecEntry): Node {
  return h(
    'div',
    { class: 'exec card' },
    h('div', { class: 'muted' }, `${when(x.at)} · ${ms(x.durationMs)}${x.truncated ? ' · cut short' : ''}`),
    h('pre', { 'aria-label': 'code' }, x.code),
    x.stdout ? h('pre', { 'aria-label': 'stdout' }, x.stdout) : null,
    x.stderr ? h('pre', { 'aria-label': 'stderr', class: 'error' }, x.stderr) : null,
    x.value !== null ? h('pre', { 'aria-label': 'value' }, x.value) : null,
    x.error ? h('p', { class: 'error' }, `${x.error.type}: ${x.error.message}`) : null,
  );
}

/** A form that runs `act` on submit, showing its outcome (or error) below itself. */
function actionForm(label: string, fields: Node[], button: string, act: (f: HTMLFormElement) => Promise<string | Node>, danger = false): HTMLFormElement {
  const out = h('div', { class: 'result', role: 'status' });
  const submit = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, button);
  const form = h('form', { 'aria-label': label }, ...fields, submit, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit.disabled = true;
    clear(out);
    out.append(h('span', { class: 'muted' }, 'working…'));
    act(form)
      .then(
        (r) => {
          clear(out);
          out.append(typeof r === 'string' ? h('span', { class: 'ok' }, r) : r);
        },
        (err: Error) => {
          clear(out);
          out.append(h('span', { class: 'error' }, err.message));
        },
      )
      .finally(() => {
        submit.disabled = false;
      });
  });
  return form;
}

function field(f: HTMLFormElement, name: string): string {
  return (f.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement | null)?.value ?? '';
}

function worldActions(n: WorldNode, host: PageHost): Node {
  const live = n.live && n.state === (n.kind === 'world' ? 'running' : 'ready');
  if (!live) return h('p', { class: 'muted' }, n.live ? `It is ${n.state}: nothing can be done to it.` : 'Not live: only the record remembers it.');
  const forms: Node[] = [];
  const source = n.id;
  if (n.kind === 'world') {
    const code = h('textarea', { name: 'code', id: 'exec-code', required: true, spellcheck: 'false' }, "import sys\nprint('hello from', sys.version.split()[0])");
    const exec = actionForm('Exec Python', [h('label', { for: 'exec-code' }, 'Python'), code], 'Run', async (f) => {
        const r = await v1<{ stdout: string; stderr: string; value: string | null; error: { type: string; message: string } | null; durationMs: number }>(
          'POST',
          `/worlds/${encodeURIComponent(n.id)}/exec`,
          { code: field(f, 'code') },
        );
      return execView({ world: n.id, at: new Date().toISOString(), code: field(f, 'code'), ...r, truncated: false });
    });
    exec.classList.add('wide');
    forms.push(exec);
    forms.push(
      actionForm('Snapshot', [h('label', { for: 'snap-name' }, 'Name'), h('input', { id: 'snap-name', name: 'name', placeholder: '(optional)', maxlength: 200 })], 'Snapshot', async (f) => {
        const name = field(f, 'name').trim();
        const r = await v1<{ id: string; snapshotTimeMs: number }>('POST', `/worlds/${encodeURIComponent(n.id)}/snapshots`, name ? { name } : {});
        return `snapshot ${r.id} in ${ms(r.snapshotTimeMs)}`;
      }),
    );
  }
  forms.push(
    actionForm(
      'Branch',
      [h('label', { for: 'branch-n' }, 'Worlds'), h('input', { id: 'branch-n', name: 'count', type: 'number', min: 1, max: 1000, value: 3, required: true })],
      'Branch',
      async (f) => {
        const r = await v1<{ worlds: { id: string; bootTimeMs: number }[] }>('POST', '/branch', { source, count: Number(field(f, 'count')) });
        return `${r.worlds.length} worlds in ${ms(r.worlds[0]?.bootTimeMs)}`;
      },
    ),
  );
  if (n.kind === 'world') {
    forms.push(
      actionForm(
        'Push down',
        [h('label', { for: 'pd-event' }, 'Event'), h('input', { id: 'pd-event', name: 'event', placeholder: '(generated)', maxlength: 256 })],
        'Push down into nash / optimal / chaos',
        async (f) => {
          const event = field(f, 'event').trim();
          const r = await v1<{ event: string; pushDownTimeMs: number }>('POST', `/worlds/${encodeURIComponent(n.id)}/push-down`, event ? { event } : {});
          host.go(`#/event/${encodeURIComponent(r.event)}`);
          return `event ${r.event} in ${ms(r.pushDownTimeMs)}`;
        },
      ),
    );
  }
  forms.push(
    actionForm(
      'Destroy',
      [],
      `Destroy ${n.kind}`,
      async () => {
        if (!(await host.confirm(`Destroy ${n.id}?`, `The ${n.kind} and its ${n.kind === 'world' ? 'memory and files' : 'frozen state'} are gone for good.`))) {
          return 'kept';
        }
        await v1('DELETE', `/${n.kind === 'world' ? 'worlds' : 'snapshots'}/${encodeURIComponent(n.id)}`);
        return `${n.id} destroyed`;
      },
      true,
    ),
  );
  return h('div', { class: 'actions' }, ...forms);
}

function eventLink(e: EventNode, host: PageHost): Node {
  return h('a', { href: `#/event/${encodeURIComponent(e.id)}`, onclick: () => host.status(`event ${e.id}`) }, e.id);
}

/**
 * The panel's parts: facts (redrawn on every refresh), actions (redrawn only when what can be done changes,
 * so a refresh never wipes what the user typed or an action's outcome) and the rest.
 */
function slots(el: HTMLElement, id: string): { info: HTMLElement; actions: HTMLElement; rest: HTMLElement } {
  const find = (name: string) => el.querySelector<HTMLElement>(`:scope > .${name}`);
  let [info, actions, rest] = [find('info'), find('act'), find('rest')];
  if (!info || !actions || !rest || el.dataset.for !== id) {
    clear(el);
    el.dataset.for = id;
    [info, actions, rest] = [h('div', { class: 'info' }), h('div', { class: 'act' }), h('div', { class: 'rest' })];
    el.append(info, actions, rest);
  }
  return { info, actions, rest };
}

function fillActions(slot: HTMLElement, sig: string, make: () => Node[]): void {
  if (slot.dataset.sig === sig) return;
  slot.dataset.sig = sig;
  clear(slot);
  slot.append(...make());
}

export async function nodePage(el: HTMLElement, id: string, host: PageHost): Promise<void> {
  const d = await view<NodeDetails>(`node/${encodeURIComponent(id)}`);
  const n = d.node;
  const verse = d.event?.verses.find((v) => v.worldId === n.id);
  const { info, actions, rest } = slots(el, `node ${id}`);
  clear(info);
  const lifetime = n.endedAt && n.createdAt ? ms(Date.parse(n.endedAt) - Date.parse(n.createdAt)) : null;
  put(info, 
    h('h2', { id: 'panel-title' }, `${n.kind === 'snapshot' ? 'Snapshot' : verse ? `Verse ${verse.name}` : 'World'} `, h('code', {}, n.id)),
    h('p', {}, h('span', { class: `tag ${n.live ? '' : 'gone'}` }, n.live ? n.state : `${n.state} · not live`), ' ', verse?.outcome ? h('span', { class: 'tag win' }, '★ winner') : null),
    rows([
      ['type', n.type === 'sandbox' ? 'world (process driver)' : n.type],
      ...(n.trit !== null ? ([['trit', trit(n.trit)]] as [string, string][]) : []),
      ...(n.name ? ([[n.kind === 'snapshot' ? 'name' : 'verse', n.name]] as [string, string][]) : []),
      ['verse (ledger)', d.verse],
      ...(verse ? ([['probability', verse.probability]] as [string, string][]) : []),
      ...(n.parentId ? ([[n.kind === 'snapshot' ? 'of world' : 'branched from', link(n.parentId, host)]] as [string, Node][]) : []),
      ...(n.snapshotId ? ([['started from', link(n.snapshotId, host)]] as [string, Node][]) : []),
      ...(d.event ? ([['event', eventLink(d.event, host)]] as [string, Node][]) : []),
      ['memory', `${n.memoryMib ?? '?'} MiB limit${n.memoryBytes !== null ? ` · uses ${bytes(n.memoryBytes)}` : ''}`],
      ['files', n.diskBytes !== null ? `${bytes(n.diskBytes)} written` : '–'],
      ...(n.failure ? ([['failure', n.failure]] as [string, string][]) : []),
    ]),
    h('h3', {}, 'Timings'),
    rows([
      ['created', `${when(n.createdAt)} (${age(n.createdAt)} ago)`],
      ...(n.bootTimeMs !== null ? ([['boot / branch', ms(n.bootTimeMs)]] as [string, string][]) : []),
      ...(n.snapshotTimeMs !== null ? ([['snapshot', ms(n.snapshotTimeMs)]] as [string, string][]) : []),
      ...(n.endedAt ? ([['ended', `${when(n.endedAt)}${lifetime ? ` after ${lifetime}` : ''}`]] as [string, string][]) : []),
    ]),
    h('h3', {}, `Balances in ${d.verse}`),
    balanceTable(d.balances),
    d.children.length ? h('h3', {}, 'Push-downs') : null,
    d.children.length ? h('ul', {}, ...d.children.map((e) => h('li', {}, eventLink(e, host), ` · ${e.state}${e.wev ? ` · WEV ${amounts(e.wev)}` : ''}`))) : null,
  );
  fillActions(actions, `${n.live} ${n.state}`, () => [h('h3', {}, 'Actions'), worldActions(n, host)]);
  clear(rest);
  put(rest, 
    h('h3', {}, 'Last execs'),
    d.execs.length ? h('div', { class: 'execs' }, ...d.execs.map(execView)) : h('p', { class: 'muted' }, 'None run by this daemon.'),
  );
}

function link(id: string, host: PageHost): Node {
  return h('a', { href: `#/node/${encodeURIComponent(id)}`, onclick: () => host.status(id) }, h('code', {}, id));
}

export async function eventPage(el: HTMLElement, id: string, host: PageHost): Promise<void> {
  const d = await view<EventDetails>(`event/${encodeURIComponent(id)}`);
  const e = d.event;
  const totals = (verse: string) => {
    const sum: Record<string, bigint> = {};
    for (const b of d.balances) if (b.verse === verse) sum[b.asset] = (sum[b.asset] ?? 0n) + BigInt(b.amount);
    return Object.entries(sum)
      .map(([a, x]) => `${x} ${a}`)
      .join(', ');
  };
  const open = e.live && e.state === 'open';
  const { info, actions } = slots(el, `event ${id}`);
  clear(info);
  put(info, 
    h('h2', { id: 'panel-title' }, 'Push-down ', h('code', {}, e.id)),
    h('p', {}, h('span', { class: `tag ${e.state === 'collapsed' || !e.live ? 'gone' : ''}` }, `${e.state}${e.live ? '' : ' · not live'}`)),
    rows([
      ['parent verse', e.parentVerse],
      ...(e.sourceWorldId ? ([['pushed down', link(e.sourceWorldId, host)]] as [string, Node][]) : []),
      ...(e.snapshotId ? ([['snapshot', link(e.snapshotId, host)]] as [string, Node][]) : []),
      ['gf3 sum', String(e.gf3Sum)],
      ['winner', e.winner ?? '–'],
      ['oracle', e.oracleSource ?? '–'],
      ['WEV', e.wev ? amounts(e.wev) : '–'],
    ]),
    h('h3', {}, 'Verses'),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Verse'), h('th', {}, 'Trit'), h('th', { class: 'num' }, 'P'), h('th', {}, 'World'), h('th', {}, 'State'), h('th', {}, 'Holds'))),
      h(
        'tbody',
        {},
        ...e.verses.map((v) =>
          h(
            'tr',
            { class: v.collapsed ? 'muted' : '' },
            h('td', {}, v.name),
            h('td', {}, trit(v.trit)),
            h('td', { class: 'num' }, v.probability),
            h('td', {}, v.worldId ? link(v.worldId, host) : '–'),
            h('td', {}, v.collapsed ? h('span', { class: 'tag gone' }, 'collapsed') : v.outcome ? h('span', { class: 'tag win' }, '★ winner') : 'live'),
            h('td', {}, totals(v.verse) || '–'),
          ),
        ),
      ),
    ),
    h('h3', {}, 'Balances'),
    balanceTable(d.balances, true),
  );
  fillActions(actions, `${open}`, () => (open ? resolveActions(e, host) : []));
}

function resolveActions(e: EventNode, host: PageHost): Node[] {
  const pull = async (body: { outcome: string } | { score: string }, what: string) => {
    if (!(await host.confirm(`Pull up ${e.id}?`, `${what} The losing verses collapse: their worlds are destroyed and their balances evaporate.`))) return 'kept open';
    const r = await v1<{ winner: { name: string }; wev: Record<string, string>; pullUpTimeMs: number }>('POST', `/verses/${encodeURIComponent(e.id)}/pull-up`, body);
    return `winner ${r.winner.name} · WEV ${amounts(r.wev)} · ${ms(r.pullUpTimeMs)}`;
  };
  const select = h('select', { id: 'pull-outcome', name: 'outcome' }, ...e.verses.map((v) => h('option', { value: v.name }, v.name)));
  return [
    h('h3', {}, 'Resolve'),
    h(
      'div',
      { class: 'actions' },
      actionForm('Pull up by outcome', [h('label', { for: 'pull-outcome' }, 'Outcome'), select], 'Pull up', (f) => pull({ outcome: field(f, 'outcome') }, `${field(f, 'outcome')} survives.`), true),
      actionForm(
        'Pull up by score',
        [h('label', { for: 'pull-score' }, 'Score (Python)'), h('input', { id: 'pull-score', name: 'score', required: true, placeholder: 'score', class: 'mono' })],
        'Pull up by score',
        (f) => pull({ score: field(f, 'score') }, `The verse whose ${field(f, 'score')} is highest survives.`),
        true,
      ),
    ),
  ];
}

/** The id a page shows when `key` is a tree key (`event:e-1` → the event, `verse:e-1/x` → its event). */
export function hashFor(key: string): string {
  if (key.startsWith('event:')) return `#/event/${encodeURIComponent(key.slice(6))}`;
  if (key.startsWith('verse:')) return `#/event/${encodeURIComponent(key.slice(6).replace(/\/[^/]*$/, ''))}`;
  return `#/node/${encodeURIComponent(key)}`;
}
