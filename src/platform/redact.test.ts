import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { luhnValid, maskCardNumbers, maskPan, redactLogLine } from './redact.js';

/** A Luhn-valid card number of the given length starting with the given prefix. */
function withCheckDigit(body: string): string {
  for (let digit = 0; digit <= 9; digit += 1) {
    if (luhnValid(`${body}${digit}`)) return `${body}${digit}`;
  }
  throw new Error('unreachable');
}

const panArbitrary = fc
  .tuple(fc.integer({ min: 13, max: 19 }), fc.constantFrom('4', '5', '2', '6', '3'))
  .chain(([length, first]) =>
    fc
      .array(fc.integer({ min: 0, max: 9 }), { minLength: length - 2, maxLength: length - 2 })
      .map((digits) => withCheckDigit(first + digits.join(''))),
  );

describe('card data redaction', () => {
  it('knows the Luhn check', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(maskPan('4111111111111111')).toBe('411111******1111');
  });

  it('masks any card number wherever it sits in free text', () => {
    fc.assert(
      fc.property(
        panArbitrary,
        fc.string(),
        fc.string(),
        fc.constantFrom('', ' ', '-'),
        (pan, before, after, sep) => {
          const grouped = sep === '' ? pan : (pan.match(/.{1,4}/g) ?? []).join(sep);
          const text = `${before.replace(/\d/g, 'x')} ${grouped} ${after.replace(/\d/g, 'x')}`;
          const masked = maskCardNumbers(text);
          expect(masked).not.toContain(pan);
          expect(masked.replace(/[ -]/g, '')).not.toContain(pan);
        },
      ),
    );
  });

  it('leaves numbers that are not card numbers alone', () => {
    expect(maskCardNumbers('amount 123456 at 12.5 and order 4111111111111112')).toBe(
      'amount 123456 at 12.5 and order 4111111111111112',
    );
  });

  it('redacts sensitive members by name, whatever their value looks like', () => {
    const line = JSON.stringify({
      card: { cvv: '123', cvc2: 456, pin: '1234' },
      secret: 'whsec_abc',
      note: 'fine',
    });
    const redacted = redactLogLine(line);
    expect(redacted).not.toMatch(/123|456|1234|whsec_abc/);
    expect(JSON.parse(redacted)).toMatchObject({ card: { cvv: '[REDACTED]' }, note: 'fine' });
  });

  it('never lets a PAN, CVV or bearer key reach a log line', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    const pan = '4000056655665556';
    logger.info({ request: { body: { number: pan, cvc: '737' } } }, `charging card ${pan}`);
    logger.error({ err: new Error(`bad card ${pan}`) }, 'failed');
    logger.info(
      { req: { headers: { authorization: 'Bearer lantau_op_secret' } }, track2: `;${pan}=2512101?` },
      'x',
    );
    const output = lines.join('');
    expect(lines).toHaveLength(3);
    expect(output).not.toContain(pan);
    expect(output).not.toContain('737');
    expect(output).not.toContain('lantau_op_secret');
    expect(output).toContain('400005******5556');
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });
});
