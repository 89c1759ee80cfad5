/**
 * What a data key is for. Each encryption purpose has its own chain of key versions, so rotating the PAN key does
 * not touch personal data, and a key that leaks exposes one kind of data only.
 * - `pan`: card numbers (PCI DSS 3.5.1).
 * - `pii`: cardholders' personal data (names, addresses, dates of birth, identity documents), under the PDPO.
 * - `cvk`: programmes' card verification keys, which compute CVV2s and so are as sensitive as the PANs.
 * - `credential`: secrets the platform itself must use in the clear later, such as webhook signing secrets and
 *   the credentials for a programme's real-time decision endpoint.
 * The blind-index key (`blind_index`) is a purpose of its own but is a MAC key, never an encryption key.
 */
export const ENCRYPTION_PURPOSES = ['pan', 'pii', 'cvk', 'credential'] as const;
export type EncryptionPurpose = (typeof ENCRYPTION_PURPOSES)[number];

export const BLIND_INDEX_PURPOSE = 'blind_index';
export const KEY_PURPOSES = [...ENCRYPTION_PURPOSES, BLIND_INDEX_PURPOSE] as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[number];

/** One byte in every ciphertext names its purpose. Codes are stored data: never renumber one. */
const PURPOSE_CODES: Readonly<Record<EncryptionPurpose, number>> = { pan: 1, pii: 2, cvk: 3, credential: 4 };

export function purposeCode(purpose: EncryptionPurpose): number {
  return PURPOSE_CODES[purpose];
}

export function purposeFromCode(code: number): EncryptionPurpose | undefined {
  return ENCRYPTION_PURPOSES.find((purpose) => PURPOSE_CODES[purpose] === code);
}

export function isEncryptionPurpose(value: string): value is EncryptionPurpose {
  return (ENCRYPTION_PURPOSES as readonly string[]).includes(value);
}

export function isKeyPurpose(value: string): value is KeyPurpose {
  return (KEY_PURPOSES as readonly string[]).includes(value);
}
