/**
 * @module
 * The page's HTML shell: a header with the views, a live status line, the main region the scripts fill,
 * and the confirmation dialog. Everything it loads comes from /ui on this daemon.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>world-runtime</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/style.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="bar">
  <span class="brand">world-runtime</span>
  <nav aria-label="Views">
    <a href="#/" data-view="tree">Tree</a>
    <a href="#/metrics" data-view="metrics">Metrics</a>
  </nav>
  <span id="status" class="status" role="status" aria-live="polite">loading…</span>
</header>
<main id="main" tabindex="-1"><noscript>The web view needs JavaScript.</noscript></main>
<dialog id="confirm" aria-labelledby="confirm-title">
  <form method="dialog">
    <h2 id="confirm-title">Are you sure?</h2>
    <p id="confirm-text"></p>
    <div class="buttons">
      <button value="cancel" autofocus>Cancel</button>
      <button value="ok" class="danger" id="confirm-ok">Confirm</button>
    </div>
  </form>
</dialog>
</body>
</html>
`;
