/**
 * @module
 * The command table and `main(argv, host)`: parse, dispatch, turn every failure into one line on stderr and
 * an exit code. `main.ts` is the executable wrapper, and supplies the `host`. Exit codes:
 * 0 success, 1 failure (one line on stderr: `world-runtime: error: ...`), 2 wrong usage; `run` exits with
 * the command's own code, `exec` with 1 when the code raised.
 */
import { parseArgs } from 'node:util';
import { WorldRuntimeError } from '../base/errors.js';
import { VERSION } from '../base/version.js';
import { DaemonFault, DaemonUnreachableError } from '../client/errors.js';
import { homePaths, resolveHome } from '../protocol/endpoint.js';
import { type Command, type Context, GLOBAL_HELP, GLOBAL_OPTIONS, type Host, UsageError } from './command.js';
import { ledger } from './commands/ledger.js';
import * as record from './commands/record.js';
import * as system from './commands/system.js';
import { ui } from './commands/ui.js';
import * as verses from './commands/verses.js';
import * as worlds from './commands/worlds.js';
import { connect } from './connect.js';

export const COMMANDS: readonly Command[] = [
  worlds.create,
  worlds.exec,
  worlds.run,
  worlds.snapshot,
  worlds.branch,
  worlds.destroy,
  worlds.ls,
  verses.pushDown,
  verses.executeIn,
  verses.pullUp,
  verses.verses,
  ledger,
  record.entities,
  record.branches,
  record.resolutions,
  record.metrics,
  ui,
  system.doctor,
  system.serve,
  system.setup,
  system.stop,
  system.demo,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `world-runtime ${VERSION}: branchable worlds — snapshot a running computer, branch it into parallel verses.

Usage: world-runtime <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

${GLOBAL_HELP}

Ids: worlds are w-... (verse-worlds v-...), snapshots s-..., push-down events e-...; \`last\` names the
newest running world (as a branch source, the newest snapshot; as an event, the newest open push-down),
so the justfile's recipes chain: create, snapshot last, branch last, push-down last, pull-up last.

The CLI talks to the daemon on <home>/daemon.sock and starts it (logging to <home>/daemon.log) when none
answers; set WORLD_RUNTIME_AUTOSTART=0 to never start one. 'world-runtime <command> --help' for details.`;
}

function commandHelp(c: Command): string {
  return `Usage: ${c.usage}\n\n${c.summary[0]?.toUpperCase()}${c.summary.slice(1)}.\n${c.help ? `\n${c.help}\n` : ''}\n${GLOBAL_HELP}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Run the CLI with `argv` (without node and the script); resolve with the exit code. */
export async function main(argv: string[], host: Host): Promise<number> {
  const out = (text: string) => void process.stdout.write(`${text}\n`);
  const err = (text: string) => void process.stderr.write(`${text}\n`);
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    out(topic ? commandHelp(topic) : overview());
    return 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    out(VERSION);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)} (run 'world-runtime --help' for the list)`);
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      out(commandHelp(command));
      return 0;
    }
    const paths = homePaths(resolveHome(typeof values.home === 'string' ? values.home : undefined));
    let client: ReturnType<typeof connect> | undefined;
    const ctx: Context = {
      paths,
      host,
      json: values.json === true,
      client: (options) => {
        client ??= connect({
          paths,
          ...(options?.serveArgs ? { serveArgs: options.serveArgs } : {}),
          ...(typeof values.url === 'string' ? { url: values.url } : {}),
          ...(typeof values.token === 'string' ? { token: values.token } : {}),
        });
        return client;
      },
      out,
      err,
      write: (stream, text) => void (stream === 'stdout' ? process.stdout : process.stderr).write(text),
    };
    return await command.run(ctx, values, positionals);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`world-runtime: error: ${oneLine(e.message)}${command ? ` (see 'world-runtime ${command.name} --help')` : ''}`);
      return 2;
    }
    if (e instanceof DaemonUnreachableError) {
      err(`world-runtime: error: ${oneLine(e.message)} (start one with 'world-runtime serve', or unset WORLD_RUNTIME_AUTOSTART=0)`);
      return 1;
    }
    if (WorldRuntimeError.is(e) || e instanceof DaemonFault) {
      // A ledger refusal names its reason too: [LEDGER INSUFFICIENT_BALANCE].
      const reason = e.code === 'LEDGER' && typeof e.details?.reason === 'string' ? ` ${e.details.reason}` : '';
      err(`world-runtime: error: ${oneLine(e.message)} [${e.code}${reason}]`);
      return 1;
    }
    err(`world-runtime: error: ${oneLine(e instanceof Error ? e.message : String(e))}`);
    return 1;
  }
}
