/**
 * Card data must never reach a log line (PCI DSS 3.3, 3.4). Structured redaction by field name catches what we
 * know to be sensitive; this module is the catch-all that runs on every finished line, so a PAN pasted into a
 * free-text field, an error message or a URL is masked too.
 */

/** Digit runs of PAN length, optionally grouped by single spaces or dashes as people type them. */
const PAN_CANDIDATE = /(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d.])/g;

/** JSON members whose value is a secret or card data whatever it looks like (CVV2 is only three digits). */
const SENSITIVE_MEMBER =
  /"(cvv|cvv2|cvc|cvc2|cvn|cid|csc|pin|pin_block|track1|track2|track_data|track|pan|card_number|number|password|secret|api_key|operator_key|authorization|cookie|key_material)"(\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)/gi;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let index = digits.length - 1; index >= 0; index -= 1) {
    let digit = digits.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) return false;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

/** First six and last four at most, as PCI DSS 3.4.1 allows for display. */
export function maskPan(pan: string): string {
  const digits = pan.replace(/\D/g, '');
  if (digits.length < 13) return '*'.repeat(digits.length);
  return `${digits.slice(0, 6)}${'*'.repeat(digits.length - 10)}${digits.slice(-4)}`;
}

/** Masks every Luhn-valid run of 13 to 19 digits. Runs that fail Luhn (ids, amounts) are left alone. */
export function maskCardNumbers(text: string): string {
  if (!/\d{4}/.test(text)) return text;
  return text.replace(PAN_CANDIDATE, (run) => {
    const digits = run.replace(/[ -]/g, '');
    return luhnValid(digits) ? maskPan(digits) : run;
  });
}

/** Applied to each serialised log line: names first, then any PAN-shaped number anywhere. */
/** Bearer tokens that travel in URLs (a card reveal link) are secrets too, used or not. */
const URL_TOKEN = /\/reveal\/[A-Za-z0-9_-]{20,}/g;

export function redactLogLine(line: string): string {
  const byName = line
    .replace(URL_TOKEN, '/reveal/[REDACTED]')
    .replace(
      SENSITIVE_MEMBER,
      (_match, name: string, separator: string) => `"${name}"${separator}"[REDACTED]"`,
    );
  return maskCardNumbers(byName);
}
