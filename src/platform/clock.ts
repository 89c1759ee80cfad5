/** Time comes from a clock that tests can set, so expiry and windows are tested without sleeping. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  private epochMs: number;

  constructor(start: Date | string = '2026-01-01T00:00:00.000Z') {
    this.epochMs = new Date(start).getTime();
    if (!Number.isFinite(this.epochMs)) throw new RangeError('ManualClock needs a valid start time');
  }

  now(): Date {
    return new Date(this.epochMs);
  }

  set(to: Date | string): void {
    const next = new Date(to).getTime();
    if (!Number.isFinite(next)) throw new RangeError('ManualClock.set needs a valid time');
    this.epochMs = next;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('a clock only moves forward');
    this.epochMs += ms;
  }
}
