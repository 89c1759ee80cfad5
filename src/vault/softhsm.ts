import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * SoftHSM2 (Debian `softhsm2`) is the PKCS#11 token Lantau's tests and benchmark run the HSM provider against,
 * and the easiest way for a developer to try `LANTAU_KEK_PROVIDER=pkcs11`. Nothing in production uses this file.
 */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** Why SoftHSM2 cannot be used here, or undefined when it can. */
export function softHsmUnavailable(): string | undefined {
  if (!existsSync(SOFTHSM_MODULE))
    return `SoftHSM2 module ${SOFTHSM_MODULE} is absent (apt-get install softhsm2)`;
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'softhsm2-util is not on PATH (apt-get install softhsm2)';
  }
  return undefined;
}

export interface SoftHsmToken {
  /** The softhsm2.conf to put in SOFTHSM2_CONF before the module is first initialised in the process. */
  readonly conf: string;
  readonly label: string;
}

/**
 * Initialises a token of its own in `dir` (a softhsm2.conf and a token directory there), so a test never
 * touches the machine's tokens in /var/lib/softhsm.
 */
export function createSoftHsmToken(dir: string, label: string, pin: string, soPin: string): SoftHsmToken {
  const tokenDir = path.join(dir, 'tokens');
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(
    conf,
    [
      `directories.tokendir = ${tokenDir}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      'slots.removable = false',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin],
    {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: 'ignore',
    },
  );
  return { conf, label };
}
