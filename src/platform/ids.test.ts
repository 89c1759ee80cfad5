import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { createIdGenerator, isId } from './ids.js';

describe('ids', () => {
  it('are prefixed, and sort in the order they were made, within a millisecond and across', () => {
    const clock = new ManualClock();
    const id = createIdGenerator(clock);
    const made: string[] = [];
    for (let index = 0; index < 1_000; index += 1) {
      made.push(id('card'));
      if (index % 100 === 0) clock.advance(1);
    }
    expect(made.every((value) => isId(value, 'card'))).toBe(true);
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
  });

  it('refuses a prefix that would make ids ambiguous', () => {
    const id = createIdGenerator(new ManualClock());
    expect(() => id('Card')).toThrow(RangeError);
    expect(() => id('card_x')).toThrow(RangeError);
  });
});
