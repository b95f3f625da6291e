/**
 * The code interpreter through the real `@e2b/code-interpreter` SDK against a real daemon: runCode keeps
 * state across calls, contexts are separate namespaces, output arrives through the streaming callbacks,
 * rich results carry their MIME data, errors come back as ExecutionError, and what is not served (other
 * languages) is refused with a message naming the limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ExecutionError, NotFoundError, type OutputMessage, type Result, Sandbox, SandboxError } from '@e2b/code-interpreter';
import { rejection, withSandbox } from './helpers.js';

describe('code interpreter through the @e2b/code-interpreter SDK', () => {
  let sbx: Sandbox;
  withSandbox(async () => (sbx = await Sandbox.create()));

  it('keeps state across runCode calls and answers the trailing expression', async () => {
    const first = await sbx.runCode('import math\nx = 41\nprint("hello")\nx + 1');
    assert.equal(first.text, '42');
    assert.deepEqual(first.logs.stdout, ['hello\n']);
    assert.deepEqual(first.logs.stderr, []);
    assert.equal(first.error, undefined);
    const second = await sbx.runCode('x * math.floor(2.5)');
    assert.equal(second.text, '82');
    assert.equal(second.executionCount, 2);
    assert.equal((await sbx.runCode('"a string"')).text, 'a string', 'quotes are stripped as the E2B server does');
    assert.equal((await sbx.runCode('x = 5;')).results.length, 0, 'an assignment has no result');
    assert.equal((await sbx.runCode('x;')).results.length, 0, 'a trailing ";" hides the result');
  });

  it('streams stdout and stderr to the callbacks, and results and errors too', async () => {
    const stdout: OutputMessage[] = [];
    const stderr: OutputMessage[] = [];
    const results: Result[] = [];
    const errors: ExecutionError[] = [];
    const code = 'import sys, time\nprint("out 1")\nsys.stdout.flush()\ntime.sleep(0.1)\nprint("err 1", file=sys.stderr)\nprint("out 2")\n7 * 6';
    const ex = await sbx.runCode(code, {
      onStdout: (m) => void stdout.push(m),
      onStderr: (m) => void stderr.push(m),
      onResult: (r) => void results.push(r),
      onError: (err) => void errors.push(err),
    });
    assert.deepEqual(
      stdout.map((m) => m.line),
      ['out 1\n', 'out 2\n'],
    );
    assert.ok(stdout.every((m) => m.error === false));
    assert.deepEqual(
      stderr.map((m) => [m.line, m.error]),
      [['err 1\n', true]],
    );
    assert.deepEqual(
      results.map((r) => r.text),
      ['42'],
    );
    assert.equal(results[0]?.isMainResult, true);
    assert.equal(errors.length, 0);
    assert.deepEqual(ex.logs.stdout, ['out 1\n', 'out 2\n']);
    const failed = await sbx.runCode('def f():\n    raise ValueError("bad value")\nf()', { onError: (err) => void errors.push(err) });
    assert.equal(failed.error?.name, 'ValueError');
    assert.equal(failed.error?.value, 'bad value');
    assert.match(failed.error?.traceback ?? '', /line 2, in f/);
    assert.equal(errors.length, 1);
    const syntax = await sbx.runCode('def (');
    assert.equal(syntax.error?.name, 'SyntaxError');
    assert.equal((await sbx.runCode('x')).text, '5', 'the interpreter lives on after errors');
  });

  it('gives rich results: _repr_html_, display() and JSON', async () => {
    const ex = await sbx.runCode(
      [
        'class Table:',
        '    def _repr_html_(self): return "<table><tr><td>1</td></tr></table>"',
        '    def __repr__(self): return "Table()"',
        'display({"shown": True})',
        'Table()',
      ].join('\n'),
    );
    assert.equal(ex.results.length, 2);
    const [shown, main] = ex.results as [Result, Result];
    assert.equal(shown.isMainResult, false);
    assert.equal(shown.text, "{'shown': True}");
    assert.equal(main.isMainResult, true);
    assert.equal(main.text, 'Table()');
    assert.equal(main.html, '<table><tr><td>1</td></tr></table>');
    assert.deepEqual(main.formats(), ['html']);
  });

  it('output written to the file descriptors (os.system) reaches stdout too', async () => {
    const ex = await sbx.runCode('import os\nos.system("echo from-the-shell")');
    assert.ok(ex.logs.stdout.join('').includes('from-the-shell\n'), JSON.stringify(ex.logs));
  });

  it('env vars of one runCode are set for it only', async () => {
    const ex = await sbx.runCode('import os\nos.environ.get("E2B_TEST_VAR")', { envs: { E2B_TEST_VAR: 'only-now' } });
    assert.equal(ex.text, 'only-now');
    assert.equal((await sbx.runCode('os.environ.get("E2B_TEST_VAR")')).results.length, 0, 'None: unset again');
  });

  it('contexts are separate persistent namespaces; restart clears one; remove ends it', async () => {
    const a = await sbx.createCodeContext({ cwd: '/tmp' });
    const b = await sbx.createCodeContext();
    assert.equal(a.language, 'python');
    assert.equal(a.cwd, '/tmp');
    await sbx.runCode('who = "a"', { context: a });
    await sbx.runCode('who = "b"', { context: b });
    assert.equal((await sbx.runCode('who', { context: a })).text, 'a');
    assert.equal((await sbx.runCode('who', { context: b })).text, 'b');
    assert.equal((await sbx.runCode('import os; os.getcwd()', { context: a })).text, '/tmp');
    assert.equal((await sbx.runCode('who')).error?.name, 'NameError', 'the default context does not see them');
    const ids = (await sbx.listCodeContexts()).map((c) => c.id);
    assert.ok(ids.includes(a.id) && ids.includes(b.id));
    await sbx.restartCodeContext(a);
    assert.equal((await sbx.runCode('who', { context: a })).error?.name, 'NameError');
    assert.equal((await sbx.runCode('who', { context: b })).text, 'b');
    await sbx.removeCodeContext(b.id);
    assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === b.id));
    // requestTimeoutMs 0: a runCode that fails leaves the SDK's request timer running otherwise (60 s).
    const gone = await rejection(sbx.runCode('who', { context: b, requestTimeoutMs: 0 }));
    assert.ok(gone instanceof NotFoundError, `${gone.name}: ${gone.message}`);
  });

  it('refuses other languages, naming the limit', async () => {
    const err = await rejection(sbx.runCode('console.log(1)', { language: 'javascript', requestTimeoutMs: 0 }));
    assert.ok(err instanceof SandboxError);
    assert.match(err.message, /Python only/);
    await assert.rejects(sbx.createCodeContext({ language: 'r' }), /Python only/);
    assert.equal((await sbx.runCode('1 + 1', { language: 'python' })).text, '2');
  });
});
