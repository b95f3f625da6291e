/**
 * @module
 * The page's stylesheet: system fonts only, light and dark from the system's preference, visible focus
 * rings, and colours that carry meaning twice (a collapsed verse is also dashed and labelled, a trit also
 * written out), so nothing depends on telling colours apart.
 */
export const STYLE_CSS = `
:root {
  color-scheme: light dark;
  --bg: #fbfbfd; --panel: #ffffff; --fg: #1b1d23; --muted: #5b6170; --line: #c9cdd6; --edge: #9aa1b0;
  --accent: #1f5fd1; --ok: #1d7a3a; --bad: #b3261e; --warn: #8a5a00; --focus: #1f5fd1;
  --node: #ffffff; --node-line: #7c8496; --snap: #eef3ff; --event: #fff7e6; --verse: #f1fbf3;
  --gone: #eceef2; --gone-fg: #7a7f8c; --nash: #8a3ffc; --optimal: #1d7a3a; --chaos: #b3261e;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14161b; --panel: #1c1f26; --fg: #e6e8ee; --muted: #a3a9b7; --line: #3a3f4b; --edge: #6b7385;
    --accent: #7fb0ff; --ok: #6fd08c; --bad: #ff8a80; --warn: #f0c36b; --focus: #9cc2ff;
    --node: #222631; --node-line: #8a92a6; --snap: #1e2a44; --event: #3a2f17; --verse: #17301f;
    --gone: #262930; --gone-fg: #8d93a1; --nash: #c6a0ff; --optimal: #6fd08c; --chaos: #ff8a80;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; background: var(--bg); color: var(--fg); }
body { display: flex; flex-direction: column; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: .5em 1em; z-index: 10; }
.skip:focus { left: .5em; }
.bar { display: flex; align-items: center; gap: 1.5em; padding: .5em 1em; border-bottom: 1px solid var(--line); background: var(--panel); }
.brand { font-weight: 700; }
.bar nav { display: flex; gap: 1em; }
.bar nav a { text-decoration: none; padding: .2em .4em; border-radius: 4px; }
.bar nav a[aria-current="page"] { background: var(--accent); color: var(--panel); }
.status { margin-left: auto; color: var(--muted); font-size: 13px; }
.status.live::before { content: "● "; color: var(--ok); }
.status.down::before { content: "● "; color: var(--bad); }
main { flex: 1; min-height: 0; display: flex; flex-direction: column; }
main:focus { outline: none; }
.page { padding: 1em 1.5em; overflow: auto; }
h1, h2, h3 { margin: .6em 0 .4em; line-height: 1.2; }
h1 { font-size: 20px; } h2 { font-size: 17px; } h3 { font-size: 15px; }
.muted { color: var(--muted); }
.banner { margin: .5em 1em 0; padding: .4em .8em; border: 1px dashed var(--line); border-radius: 6px; color: var(--muted); }
.toolbar { display: flex; gap: .5em; align-items: center; padding: .5em 1em; flex-wrap: wrap; }
.legend { display: flex; gap: 1em; color: var(--muted); font-size: 12px; flex-wrap: wrap; }
button, input, select, textarea { font: inherit; color: inherit; }
button { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .3em .8em; cursor: pointer; }
button:hover { border-color: var(--accent); }
button.primary { background: var(--accent); color: var(--panel); border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
input, select, textarea { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .3em .5em; }
textarea { width: 100%; min-height: 6em; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .5em .7em; overflow: auto; max-height: 20em; margin: .3em 0; font-size: 12.5px; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
table { border-collapse: collapse; margin: .3em 0 1em; }
th, td { text-align: left; padding: .25em .8em .25em 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(22em, 1fr)); gap: 1em 2em; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .6em 1em; }
.actions form { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; margin: .4em 0; }
.actions .wide { flex-direction: column; align-items: stretch; }
.result { margin-top: .5em; }
.error { color: var(--bad); }
.ok { color: var(--ok); }
.tag { display: inline-block; padding: 0 .45em; border-radius: 4px; border: 1px solid var(--line); font-size: 12px; }
.tag.gone { background: var(--gone); color: var(--gone-fg); border-style: dashed; }
.tag.win { border-color: var(--ok); color: var(--ok); }
.tree-page { flex: 1; min-height: 0; display: flex; flex-direction: column; }
.split { flex: 1; min-height: 0; display: flex; border-top: 1px solid var(--line); }
#panel { width: min(38em, 48%); border-left: 1px solid var(--line); background: var(--bg); }
#panel[hidden] { display: none; }
#tree-wrap { flex: 1; min-width: 0; min-height: 0; position: relative; }
#tree { width: 100%; height: 100%; display: block; cursor: grab; touch-action: none; user-select: none; }
#tree.dragging { cursor: grabbing; }
#tree .edge { fill: none; stroke: var(--edge); stroke-width: 1.4; }
#tree .edge.gone { stroke-dasharray: 4 3; opacity: .6; }
#tree .node rect { fill: var(--node); stroke: var(--node-line); stroke-width: 1.2; rx: 7; }
#tree .node.snapshot rect { fill: var(--snap); }
#tree .node.event rect { fill: var(--event); }
#tree .node.verse rect { fill: var(--verse); }
#tree .node.gone rect { fill: var(--gone); stroke-dasharray: 5 3; }
#tree .node.gone text { fill: var(--gone-fg); }
#tree .node.notlive rect { stroke-dasharray: 2 3; }
#tree .node.winner rect { stroke: var(--ok); stroke-width: 2.5; }
#tree .node.failed rect { stroke: var(--bad); stroke-width: 2; }
#tree .node:focus { outline: none; }
#tree .node:focus rect, #tree .node.selected rect { stroke: var(--focus); stroke-width: 3; }
#tree text { fill: var(--fg); font-size: 12px; }
#tree text.title { font-weight: 600; font-size: 12.5px; }
#tree text.sub { fill: var(--muted); font-size: 11px; }
#tree text.trit-n { fill: var(--nash); } #tree text.trit-z { fill: var(--optimal); } #tree text.trit-p { fill: var(--chaos); }
#tree .node { cursor: pointer; }
.chart { width: 100%; max-width: 26em; height: 9em; display: block; }
.chart .axis { stroke: var(--line); }
.chart .target { stroke: var(--warn); stroke-dasharray: 5 4; }
.chart .p50 { fill: none; stroke: var(--accent); stroke-width: 1.6; }
.chart .p99 { fill: none; stroke: var(--bad); stroke-width: 1.6; }
.chart text { fill: var(--muted); font-size: 10px; }
.meter { height: .8em; background: var(--gone); border-radius: 4px; overflow: hidden; min-width: 10em; }
.meter > span { display: block; height: 100%; background: var(--accent); }
dialog { border: 1px solid var(--line); border-radius: 10px; background: var(--panel); color: var(--fg); max-width: 30em; }
dialog::backdrop { background: rgb(0 0 0 / .4); }
dialog .buttons { display: flex; justify-content: flex-end; gap: .6em; }
@media (prefers-reduced-motion: no-preference) { #tree .viewport.animate { transition: transform .2s ease-out; } }
`;
