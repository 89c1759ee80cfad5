import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface RunningLantau {
  readonly child: ChildProcess;
  readonly url: string;
  readonly operatorKey: string | undefined;
  readonly sandboxProgram: string | undefined;
  readonly sandboxKey: string | undefined;
  /** Everything the process wrote to stdout and stderr, line by line, up to now. */
  readonly output: string[];
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `lantau serve` as `npm start` does and reads its banner up to `Ready.` (no sleeping: it reads the output). */
export function startLantau(env: NodeJS.ProcessEnv): Promise<RunningLantau> {
  const child = spawn(process.execPath, ['bin/lantau.js', 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return new Promise((resolve, reject) => {
    let url: string | undefined;
    let operatorKey: string | undefined;
    let sandboxProgram: string | undefined;
    let sandboxKey: string | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      output.push(line);
      operatorKey ??= /Operator key \(shown once[^:]*\): (\S+)/.exec(line)?.[1];
      url ??= /API:\s+(\S+)\/v1/.exec(line)?.[1];
      sandboxProgram ??= /Sandbox programme: (prog_\S+)/.exec(line)?.[1];
      sandboxKey ??= /Sandbox key \(shown once[^)]*\): (\S+)/.exec(line)?.[1];
      if (line === 'Ready.') {
        resolve({ child, url: url ?? '', operatorKey, sandboxProgram, sandboxKey, output, stop });
      }
    });
    createInterface({ input: child.stderr }).on('line', (line) => output.push(line));
    void exited.then((code) =>
      reject(new Error(`lantau exited with ${String(code)} before it was ready:\n${output.join('\n')}`)),
    );
  });
}
