import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { KEY_BYTES, type KeyEncryptionKey } from './kek.js';
import { SoftwareKek } from './kek-software.js';
import { vaultError } from './vault-error.js';

export const FILE_KEK_WARNING =
  'the key-encryption key is a file on this machine (LANTAU_KEK_PROVIDER=file): fit for development and the ' +
  'sandbox only; use an HSM (pkcs11) or a secret manager (env) for real card data';

export function fileKekPath(dataDir: string): string {
  return path.join(dataDir, 'keys', 'kek.key');
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/**
 * Writes a new random key where none exists. The key is written and fsynced under a temporary name, then linked
 * to its real name, which fails if another process got there first: a reader never sees a half-written key, and
 * two processes starting at once end up with the same key. Losing the KEK loses every card, hence the fsyncs.
 */
function createKeyFile(file: string): void {
  const dir = path.dirname(file);
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, randomBytes(KEY_BYTES));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temporary, file);
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * The `file` provider: a 32-byte random key in `<dataDir>/keys/kek.key`, created with mode 0600 on first use.
 * A file of the wrong length, or one that group or others may read or write, is refused rather than used.
 */
export function openFileKek(dataDir: string): KeyEncryptionKey {
  const file = fileKekPath(dataDir);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    statSync(file);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
    createKeyFile(file);
  }
  const stats = statSync(file);
  if (!stats.isFile()) throw vaultError('kek_file_invalid', `${file} is not a regular file`);
  const loose = stats.mode & 0o077;
  if (loose !== 0) {
    throw vaultError(
      'kek_file_invalid',
      `${file} has mode ${(stats.mode & 0o777).toString(8)}: group or others may read or write it; chmod 600 it`,
    );
  }
  const material = readFileSync(file);
  try {
    if (material.length !== KEY_BYTES) {
      // The length is safe to say; the bytes are not.
      throw vaultError(
        'kek_file_invalid',
        `${file} holds ${material.length} bytes; a key-encryption key file holds exactly ${KEY_BYTES} random bytes`,
      );
    }
    return new SoftwareKek('file', material, file, FILE_KEK_WARNING);
  } finally {
    material.fill(0);
  }
}
