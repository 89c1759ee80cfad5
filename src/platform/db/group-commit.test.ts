import { describe, expect, it } from 'vitest';
import { LantauError } from '../errors.js';
import { GroupCommit, type Settled } from './group-commit.js';

/** A group runner that records each group it is given and answers each input by `answer`. */
function recorder(
  answer: (input: number) => Settled<string>,
  failWhole?: (inputs: readonly number[]) => boolean,
) {
  const groups: number[][] = [];
  const run = async (inputs: readonly number[]): Promise<Settled<string>[]> => {
    groups.push([...inputs]);
    await Promise.resolve();
    if (failWhole?.(inputs) === true) throw new Error('the group failed as a whole');
    return inputs.map(answer);
  };
  return { groups, run };
}

const ok = (input: number): Settled<string> => ({ ok: true, value: `answer ${input}` });

describe('group commit', () => {
  it('puts everything submitted in one turn into one group, and answers each caller its own', async () => {
    const { groups, run } = recorder(ok);
    const group = new GroupCommit(run, { batchMax: 64, inFlightMax: 1, queuedMax: 1_000 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, index) => group.submit(index)));
    expect(answers).toEqual(Array.from({ length: 20 }, (_, index) => `answer ${index}`));
    expect(groups).toEqual([Array.from({ length: 20 }, (_, index) => index)]);
  });

  it('splits at batchMax and runs no more than inFlightMax groups at once; what waits goes in the next group', async () => {
    let running = 0;
    let most = 0;
    const sizes: number[] = [];
    const releases: (() => void)[] = [];
    const group = new GroupCommit<number, number>(
      async (inputs) => {
        running += 1;
        most = Math.max(most, running);
        sizes.push(inputs.length);
        await new Promise<void>((resolve) => releases.push(resolve));
        running -= 1;
        return inputs.map((input) => ({ ok: true, value: input * 2 }));
      },
      { batchMax: 10, inFlightMax: 2, queuedMax: 1_000 },
    );
    const first = Array.from({ length: 25 }, (_, index) => group.submit(index));
    // Let the first groups start, then submit more while they run.
    await new Promise((resolve) => setImmediate(resolve));
    expect(sizes).toEqual([10, 10]);
    const later = Array.from({ length: 7 }, (_, index) => group.submit(100 + index));
    while (releases.length > 0 || sizes.reduce((sum, size) => sum + size, 0) < 32) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(first)).toEqual(Array.from({ length: 25 }, (_, index) => index * 2));
    expect(await Promise.all(later)).toEqual(Array.from({ length: 7 }, (_, index) => (100 + index) * 2));
    expect(most).toBe(2);
    // After the first two groups, the 5 left over and the 7 that came later wait together.
    expect(sizes).toEqual([10, 10, 10, 2]);
  });

  it('fails only the input that failed, not the others in its group', async () => {
    const { groups, run } = recorder((input) =>
      input === 3 ? { ok: false, error: new LantauError('bad_input', 'three is refused') } : ok(input),
    );
    const group = new GroupCommit(run, { batchMax: 64, inFlightMax: 1, queuedMax: 1_000 });
    const answers = await Promise.allSettled(Array.from({ length: 6 }, (_, index) => group.submit(index)));
    expect(answers.map((answer) => answer.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect(groups).toHaveLength(1);
  });

  it('when a group fails as a whole, runs each input again alone so only the culprit fails', async () => {
    // The group fails whenever 4 is in it with others; alone, 4 fails by itself.
    const { groups, run } = recorder(ok, (inputs) => inputs.includes(4));
    const group = new GroupCommit(run, { batchMax: 64, inFlightMax: 1, queuedMax: 1_000 });
    const answers = await Promise.allSettled(Array.from({ length: 6 }, (_, index) => group.submit(index)));
    expect(answers.filter((answer) => answer.status === 'fulfilled')).toHaveLength(5);
    expect(answers[4]).toMatchObject({
      status: 'rejected',
      reason: { message: 'the group failed as a whole' },
    });
    expect(groups).toEqual([[0, 1, 2, 3, 4, 5], [0], [1], [2], [3], [4], [5]]);
  });

  it('refuses at once with 503 overloaded when the queue is full, and serves the rest', async () => {
    const { run } = recorder(ok);
    const group = new GroupCommit(run, { batchMax: 4, inFlightMax: 1, queuedMax: 8 });
    const answers = await Promise.allSettled(Array.from({ length: 10 }, (_, index) => group.submit(index)));
    expect(answers.filter((answer) => answer.status === 'fulfilled')).toHaveLength(8);
    expect(answers.slice(8)).toMatchObject([
      { status: 'rejected', reason: { code: 'overloaded', status: 503 } },
      { status: 'rejected', reason: { code: 'overloaded', status: 503 } },
    ]);
  });

  it('refuses a configuration without room for one group', () => {
    expect(() => new GroupCommit(recorder(ok).run, { batchMax: 0, inFlightMax: 1, queuedMax: 1 })).toThrow(
      RangeError,
    );
    expect(() => new GroupCommit(recorder(ok).run, { batchMax: 8, inFlightMax: 1, queuedMax: 4 })).toThrow(
      RangeError,
    );
  });
});
