import { createCipheriv, randomBytes } from 'node:crypto';
import { invalidRequest } from '../platform/errors.js';
import { reveal, Secret } from './secret.js';

/** A programme's card verification keys: two single-DES keys, A and B, used as one double-length 3DES key. */
export interface CvkPair {
  readonly cvkA: Secret<Buffer>;
  readonly cvkB: Secret<Buffer>;
}

export interface CvvInput {
  readonly pan: string | Secret<string>;
  /** Expiry as YYMM, the order the CVV method and track data use (not the MM/YY printed on the card). */
  readonly expiryYYMM: string;
  /** `000` for CVV2; the magnetic stripe's service code (such as `101`) for CVV1. */
  readonly serviceCode: string;
  readonly cvkA: Buffer | Secret<Buffer>;
  readonly cvkB: Buffer | Secret<Buffer>;
}

export const CVV2_SERVICE_CODE = '000';
const DES_KEY_BYTES = 8;
const DES_BLOCK_BYTES = 8;

/**
 * DES-EDE in ECB mode over one block. OpenSSL 3 (Node 20) has no single-DES cipher, but EDE with K1 = K2
 * reduces to single DES under K1 (encrypt, decrypt and encrypt again under the same key), so single DES under A
 * is `des-ede-ecb` with A||A, and the CVV method's EDE step (encrypt A, decrypt B, encrypt A) is `des-ede-ecb`
 * with A||B (two-key 3DES: K3 = K1).
 */
function desEde(key: Buffer, block: Buffer): Buffer {
  const cipher = createCipheriv('des-ede-ecb', key, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(block), cipher.final()]);
}

function checkKey(key: Buffer, name: string): void {
  if (key.length !== DES_KEY_BYTES)
    throw invalidRequest('cvk_invalid', `${name} must be ${DES_KEY_BYTES} bytes`);
}

/**
 * The Visa CVV method (DESIGN.md, "Card data"): PAN, expiry YYMM and service code, right-padded with zeros to 32
 * hex digits; the first 16 encrypted with single DES under A; XOR the second 16; DES-EDE under A, B, A; then
 * decimalise the 16 result digits, 0-9 in order first and then A-F as 0-5, and keep the first three.
 * Errors say which input is malformed, never its value.
 */
export function computeCvv(input: CvvInput): string {
  const pan = reveal(input.pan);
  if (!/^\d{12,19}$/.test(pan)) throw invalidRequest('pan_invalid', 'the PAN must be 12 to 19 digits', 'pan');
  const { expiryYYMM, serviceCode } = input;
  const month = Number(expiryYYMM.slice(2));
  if (!/^\d{4}$/.test(expiryYYMM) || month < 1 || month > 12) {
    throw invalidRequest(
      'expiry_invalid',
      'the expiry must be four digits YYMM with a month from 01 to 12',
      'expiry',
    );
  }
  if (!/^\d{3}$/.test(serviceCode)) {
    throw invalidRequest('service_code_invalid', 'the service code must be three digits', 'service_code');
  }
  const a = reveal(input.cvkA);
  const b = reveal(input.cvkB);
  checkKey(a, 'CVK A');
  checkKey(b, 'CVK B');

  const data = Buffer.from(`${pan}${expiryYYMM}${serviceCode}`.padEnd(32, '0'), 'hex');
  const blockA = desEde(Buffer.concat([a, a]), data.subarray(0, DES_BLOCK_BYTES));
  const second = data.subarray(DES_BLOCK_BYTES);
  for (let index = 0; index < DES_BLOCK_BYTES; index += 1) {
    blockA[index] = (blockA[index] ?? 0) ^ (second[index] ?? 0);
  }
  const result = desEde(Buffer.concat([a, b]), blockA).toString('hex');

  let digits = '';
  for (const char of result) if (char <= '9') digits += char;
  for (const char of result) if (char > '9') digits += String(char.charCodeAt(0) - 'a'.charCodeAt(0));
  return digits.slice(0, 3);
}

/**
 * Reads a CVK pair written as 32 hex digits, A then B (as `LANTAU_SANDBOX_CVK` is). Problems are named without
 * repeating the value. A pair whose halves are equal is refused: the EDE step would collapse to single DES.
 */
export function parseCvkPair(hex32: string): CvkPair {
  const text = hex32.trim();
  if (text.length !== 32) {
    throw invalidRequest(
      'cvk_invalid',
      `a CVK pair is 32 hex digits (CVK A then CVK B); the value given is ${text.length} characters and is not shown`,
    );
  }
  if (!/^[0-9a-fA-F]{32}$/.test(text)) {
    throw invalidRequest(
      'cvk_invalid',
      'a CVK pair is 32 hex digits (0-9, A-F); the value given has other characters and is not shown',
    );
  }
  const bytes = Buffer.from(text, 'hex');
  const pair = { cvkA: new Secret(bytes.subarray(0, 8)), cvkB: new Secret(bytes.subarray(8)) };
  if (pair.cvkA.expose().equals(pair.cvkB.expose())) {
    throw invalidRequest('cvk_invalid', 'the two halves of a CVK pair must differ');
  }
  return pair;
}

/** A random pair with DES odd parity in every byte, as HSMs that later import it expect. */
export function generateCvkPair(): CvkPair {
  for (;;) {
    const bytes = Buffer.from(randomBytes(2 * DES_KEY_BYTES).map(withOddParity));
    const cvkA = bytes.subarray(0, 8);
    const cvkB = bytes.subarray(8);
    if (!cvkA.equals(cvkB))
      return { cvkA: new Secret(Buffer.from(cvkA)), cvkB: new Secret(Buffer.from(cvkB)) };
  }
}

function withOddParity(byte: number): number {
  let ones = 0;
  for (let bit = 1; bit < 0x100; bit <<= 1) if ((byte & bit) !== 0 && bit !== 1) ones += 1;
  return (byte & 0xfe) | (ones % 2 === 0 ? 1 : 0);
}

/** The key check value: the first six hex digits of a zero block under the pair. Public by convention. */
export function cvkCheckValue(pair: CvkPair): string {
  const key = Buffer.concat([pair.cvkA.expose(), pair.cvkB.expose()]);
  return desEde(key, Buffer.alloc(DES_BLOCK_BYTES)).subarray(0, 3).toString('hex').toUpperCase();
}
