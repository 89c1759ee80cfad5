import { LantauError } from '../errors.js';

/** One input's outcome in a group: its own value or its own error, so that one refusal does not fail the others. */
export type Settled<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

export interface GroupCommitOptions {
  /** Inputs per group (one database transaction). */
  readonly batchMax: number;
  /** Groups running at once: more overlap round trips, fewer make each group larger. */
  readonly inFlightMax: number;
  /** Inputs waiting beyond the groups running; past this, callers are refused at once (back-pressure). */
  readonly queuedMax: number;
}

/** Refused because the queue is full: the caller may retry (503). */
export function overloaded(): LantauError {
  return new LantauError('overloaded', 'Too many requests are waiting to be decided; retry shortly', {
    status: 503,
    type: 'api_error',
  });
}

interface Waiting<Input, Output> {
  readonly input: Input;
  readonly resolve: (value: Output) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit (TigerBeetle's lesson: one commit per request is the ceiling). Inputs submitted while a group is
 * being written wait together and go into the next group, so a commit serves as many callers as arrived during
 * the previous one; with nothing running, a group starts at the end of the current event-loop turn (everything
 * submitted in that turn joins it). `run` decides a whole group in one transaction and answers each input on its
 * own; when the group as a whole fails (a deadlock, a twin's key, a bug), every input is run again alone, so one
 * bad input fails only itself.
 */
export class GroupCommit<Input, Output> {
  private readonly queue: Waiting<Input, Output>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (inputs: readonly Input[]) => Promise<readonly Settled<Output>[]>,
    private readonly options: GroupCommitOptions,
    private readonly onGroup?: (size: number) => void,
  ) {
    if (!(options.batchMax >= 1 && options.inFlightMax >= 1 && options.queuedMax >= options.batchMax)) {
      throw new RangeError('group commit needs batchMax ≥ 1, inFlightMax ≥ 1 and queuedMax ≥ batchMax');
    }
  }

  submit(input: Input): Promise<Output> {
    if (this.queue.length >= this.options.queuedMax) return Promise.reject(overloaded());
    return new Promise<Output>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.inFlightMax || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startGroups();
    });
  }

  private startGroups(): void {
    while (this.inFlight < this.options.inFlightMax && this.queue.length > 0) {
      // Shared among the free slots: callers that all answered at once must not all wait for one group, or the
      // groups run one after another in lockstep and the second slot never fills.
      const share = Math.ceil(this.queue.length / (this.options.inFlightMax - this.inFlight));
      const group = this.queue.splice(0, Math.min(this.options.batchMax, share));
      this.inFlight += 1;
      void this.runGroup(group).finally(() => {
        this.inFlight -= 1;
        // What arrived meanwhile starts at once: it has already waited for a commit.
        if (this.queue.length > 0) this.startGroups();
      });
    }
  }

  private async runGroup(group: readonly Waiting<Input, Output>[]): Promise<void> {
    this.onGroup?.(group.length);
    let outcomes: readonly Settled<Output>[];
    try {
      outcomes = await this.run(group.map((waiting) => waiting.input));
      if (outcomes.length !== group.length)
        throw new Error('a group commit answered the wrong number of inputs');
    } catch (error) {
      if (group.length === 1) {
        group[0]?.reject(error);
        return;
      }
      for (const waiting of group) await this.runAlone(waiting);
      return;
    }
    group.forEach((waiting, index) => settle(waiting, outcomes[index]));
  }

  private async runAlone(waiting: Waiting<Input, Output>): Promise<void> {
    try {
      const [outcome] = await this.run([waiting.input]);
      settle(waiting, outcome);
    } catch (error) {
      waiting.reject(error);
    }
  }
}

function settle<Output>(waiting: Waiting<unknown, Output>, outcome: Settled<Output> | undefined): void {
  if (outcome === undefined) waiting.reject(new Error('a group commit gave no outcome for an input'));
  else if (outcome.ok) waiting.resolve(outcome.value);
  else waiting.reject(outcome.error);
}
