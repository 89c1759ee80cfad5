import type { Command } from 'commander';
import { systemClock } from '../../platform/clock.js';
import { openDatabase } from '../../platform/db/open.js';
import { createIdGenerator } from '../../platform/ids.js';
import { appendAudit } from '../../records/audit.js';
import { ENCRYPTION_PURPOSES, isEncryptionPurpose, type EncryptionPurpose } from '../../vault/purposes.js';
import { reencrypt } from '../../vault/reencrypt.js';
import type { Settings } from './settings.js';
import { encryptedColumns, openVault, type OpenVault } from './vault.js';

const CLI_ACTOR = { type: 'cli' as const, id: 'lantau keys' };

async function withVault(
  settings: Settings,
  work: (vault: OpenVault, context: Parameters<typeof openVault>[1]) => Promise<void>,
): Promise<void> {
  const clock = systemClock;
  const ids = createIdGenerator(clock);
  const db = await openDatabase(settings.config);
  try {
    const context = { db, clock, ids };
    // No refresh loop: a command runs once and exits.
    const vault = await openVault(settings.kek, context, CLI_ACTOR, { refreshIntervalMs: 0 });
    try {
      await work(vault, context);
    } finally {
      await vault.close();
    }
  } finally {
    await db.close();
  }
}

function purposesFrom(values: readonly string[] | undefined): EncryptionPurpose[] {
  if (values === undefined || values.length === 0) return [...ENCRYPTION_PURPOSES];
  return values.map((value) => {
    if (!isEncryptionPurpose(value)) {
      throw new Error(
        `--purpose must be one of ${ENCRYPTION_PURPOSES.join(', ')} (got ${JSON.stringify(value)})`,
      );
    }
    return value;
  });
}

/** `lantau keys …`: list data keys, rotate them (re-encrypting what they protect), retire old versions. */
export function registerKeyCommands(program: Command, settings: () => Settings): void {
  const keys = program.command('keys').description('data keys: list, rotate with re-encryption, retire');

  keys
    .command('list')
    .description('every data key version with its state (never key material)')
    .action(async () => {
      await withVault(settings(), async (vault) => {
        console.log(`KEK: ${vault.kek.describe()}`);
        for (const key of vault.keyring
          .keys()
          .sort((a, b) => a.purpose.localeCompare(b.purpose) || a.version - b.version)) {
          console.log(
            `${key.purpose.padEnd(12)} v${String(key.version).padEnd(4)} ${key.state.padEnd(13)} created ${key.createdAt.toISOString()}${key.retiredAt === null ? '' : `, retired ${key.retiredAt.toISOString()}`}`,
          );
        }
      });
    });

  keys
    .command('rotate')
    .description(
      'make a new version active for new encryptions, then re-encrypt stored data in small batches while the server runs',
    )
    .option('--purpose <purpose...>', `which keys (default all: ${ENCRYPTION_PURPOSES.join(', ')})`)
    .option('--no-reencrypt', 'only rotate; run `lantau keys reencrypt` later')
    .option('--batch-size <rows>', 'rows per re-encryption transaction', '500')
    .action(async (options: { purpose?: string[]; reencrypt: boolean; batchSize: string }) => {
      const purposes = purposesFrom(options.purpose);
      await withVault(settings(), async (vault, context) => {
        for (const purpose of purposes) {
          const rotated = await vault.keyring.rotate(purpose);
          await context.db.transaction((tx) =>
            appendAudit(tx, context, {
              actor: CLI_ACTOR,
              action: 'vault.data_key_rotated',
              target: { type: 'data_key', id: rotated.keyId },
              details: { purpose, version: rotated.version, previous_version: rotated.previousVersion },
            }),
          );
          console.log(
            `${purpose}: version ${rotated.version} active (version ${rotated.previousVersion} now decrypts only)`,
          );
        }
        if (options.reencrypt) await runReencrypt(vault, context, purposes, Number(options.batchSize));
      });
    });

  keys
    .command('reencrypt')
    .description('move stored ciphertexts to the active versions (resumable; safe while the server runs)')
    .option('--purpose <purpose...>', 'which keys (default all)')
    .option('--batch-size <rows>', 'rows per transaction', '500')
    .action(async (options: { purpose?: string[]; batchSize: string }) => {
      await withVault(settings(), (vault, context) =>
        runReencrypt(vault, context, purposesFrom(options.purpose), Number(options.batchSize)),
      );
    });

  keys
    .command('retire')
    .description('retire a decrypt-only version once nothing stored uses it')
    .requiredOption('--purpose <purpose>', ENCRYPTION_PURPOSES.join(', '))
    .requiredOption('--version <n>', 'the version to retire')
    .action(async (options: { purpose: string; version: string }) => {
      const [purpose] = purposesFrom([options.purpose]);
      const version = Number(options.version);
      if (purpose === undefined || !Number.isSafeInteger(version) || version < 1) {
        throw new Error('--version must be a positive whole number');
      }
      await withVault(settings(), async (vault, context) => {
        const retired = await vault.keyring.retire(encryptedColumns(), purpose, version);
        await context.db.transaction((tx) =>
          appendAudit(tx, context, {
            actor: CLI_ACTOR,
            action: 'vault.data_key_retired',
            target: { type: 'data_key', id: retired.keyId },
            details: { purpose, version },
          }),
        );
        console.log(`${purpose}: version ${version} retired at ${retired.retiredAt.toISOString()}`);
      });
    });
}

async function runReencrypt(
  vault: OpenVault,
  context: Parameters<typeof openVault>[1],
  purposes: readonly EncryptionPurpose[],
  batchSize: number,
): Promise<void> {
  const results = await reencrypt(context.db, vault.keyring, encryptedColumns(), { batchSize, purposes });
  for (const result of results) {
    console.log(
      `${result.table}.${result.column}: ${result.rewritten} rewritten under ${result.purpose} version ${result.version} in ${result.batches} batches`,
    );
    await context.db.transaction((tx) =>
      appendAudit(tx, context, {
        actor: CLI_ACTOR,
        action: 'vault.reencrypted',
        details: {
          table: result.table,
          column: result.column,
          purpose: result.purpose,
          version: result.version,
          rewritten: result.rewritten,
        },
      }),
    );
  }
}
