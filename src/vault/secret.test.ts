import { format, inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { reveal, Secret } from './secret.js';

const PAN = '4111111111111111';
const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

describe('Secret', () => {
  const holder = { card: { pan: new Secret(PAN), key: new Secret(KEY) }, last4: '1111' };

  it('hides its value from every way of printing it', () => {
    const printed = [
      JSON.stringify(holder),
      String(holder.card.pan),
      // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the accident this guards against
      `${holder.card.pan}`,
      'pan: ' + holder.card.pan.toString(),
      inspect(holder, { depth: 10, showHidden: true }),
      format('%s %o %O %j', holder.card.pan, holder, holder, holder),
      format('%s', holder.card.key),
      format(holder),
    ];
    for (const text of printed) {
      expect(text).not.toContain(PAN);
      expect(text).not.toContain(KEY.toString('hex'));
      expect(text).not.toContain(KEY.toString('base64'));
      expect(text).not.toMatch(/00 11 22 33/);
    }
    expect(JSON.parse(JSON.stringify(holder))).toEqual({
      card: { pan: '[REDACTED]', key: '[REDACTED]' },
      last4: '1111',
    });
    expect(String(holder.card.pan)).toBe('[REDACTED]');
    expect(inspect(holder.card.key)).toBe('[REDACTED]');
  });

  it('does not copy its value when spread, cloned or listed', () => {
    const secret = new Secret(PAN);
    expect(Object.keys(secret)).toEqual([]);
    // eslint-disable-next-line @typescript-eslint/no-misused-spread -- the accident this guards against
    expect(JSON.stringify({ ...secret })).toBe('{}');
    expect(JSON.stringify(structuredClone(secret))).not.toContain(PAN);
  });

  it('gives the value only through expose()', () => {
    expect(new Secret(PAN).expose()).toBe(PAN);
    expect(new Secret(KEY).expose().equals(KEY)).toBe(true);
    expect(reveal(new Secret(PAN))).toBe(PAN);
    expect(reveal(PAN)).toBe(PAN);
  });
});
