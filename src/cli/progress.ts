/**
 * @module
 * A progress line on stderr for slow operations: shown only on a terminal, and only once the operation has
 * taken more than a second, so fast commands and scripts see nothing.
 */

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const SHOW_AFTER_MS = 1000;

export interface Progress {
  /** Change what the line says. */
  label(text: string): void;
  /** Remove the line. */
  stop(): void;
}

export function startProgress(text: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { label: () => {}, stop: () => {} };
  const t0 = Date.now();
  let label = text;
  let frame = 0;
  let shown = false;
  const draw = () => {
    shown = true;
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${label} ${secs}s`);
  };
  let timer: NodeJS.Timeout | undefined;
  const delay = setTimeout(() => {
    draw();
    timer = setInterval(draw, 100);
  }, SHOW_AFTER_MS);
  return {
    label: (t) => {
      label = t;
    },
    stop: () => {
      clearTimeout(delay);
      clearInterval(timer);
      if (shown) stream.write('\r\x1b[2K');
    },
  };
}

/** Run `fn` with a progress line that goes away when it settles. */
export async function withProgress<T>(text: string, fn: () => Promise<T>): Promise<T> {
  const p = startProgress(text);
  try {
    return await fn();
  } finally {
    p.stop();
  }
}
