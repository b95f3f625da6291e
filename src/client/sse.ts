/**
 * @module
 * Reading a server-sent-events answer (a streaming exec or run): `stdout`/`stderr` events while it runs,
 * then `result` or `error`.
 */
import type { IncomingMessage } from 'node:http';

/** Split a text/event-stream into (event, parsed JSON data) pairs. */
export function parseEvents(res: IncomingMessage, onEvent: (event: string, data: unknown) => void): void {
  let buffer = '';
  res.setEncoding('utf8');
  res.on('data', (text: string) => {
    buffer += text;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) onEvent(event, JSON.parse(data.join('\n')));
      end = buffer.indexOf('\n\n');
    }
  });
}
