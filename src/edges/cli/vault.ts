import type { Clock } from '../../platform/clock.js';
import { CASE_ENCRYPTED_COLUMNS } from '../../issuing/aml-cases.js';
import { ALERT_GROUNDS_COLUMN } from '../../issuing/cardholder-screening.js';
import { CARDHOLDER_PII_COLUMN } from '../../issuing/cardholders.js';
import { CARD_PAN_COLUMN } from '../../issuing/cards.js';
import { AUTHORIZATION_ENDPOINT_SECRET_COLUMN } from '../../delivery/authorization-endpoint.js';
import { WEBHOOK_PREVIOUS_SECRET_COLUMN, WEBHOOK_SECRET_COLUMN } from '../../delivery/webhooks/endpoints.js';
import type { Database } from '../../platform/db/database.js';
import type { IdGenerator } from '../../platform/ids.js';
import { appendAudit, type AuditActor } from '../../records/audit.js';
import { EncryptedColumnRegistry } from '../../vault/encrypted-columns.js';
import type { KeyEncryptionKey } from '../../vault/kek.js';
import { kekFromConfig, type KekSettings } from '../../vault/kek-config.js';
import { Keyring } from '../../vault/keyring.js';

export interface OpenVault {
  readonly kek: KeyEncryptionKey;
  readonly keyring: Keyring;
  close(): Promise<void>;
}

/**
 * Every encrypted column of every part, so rotation re-encrypts them all and retirement checks them all. The
 * vault's own CVK column is always registered; the other parts' columns join here as they arrive.
 */
export function encryptedColumns(): EncryptedColumnRegistry {
  return new EncryptedColumnRegistry([
    CARDHOLDER_PII_COLUMN,
    CARD_PAN_COLUMN,
    WEBHOOK_SECRET_COLUMN,
    AUTHORIZATION_ENDPOINT_SECRET_COLUMN,
    WEBHOOK_PREVIOUS_SECRET_COLUMN,
    ALERT_GROUNDS_COLUMN,
    ...CASE_ENCRYPTED_COLUMNS,
  ]);
}

/**
 * Opens the KEK and the keyring (creating the first data keys on a new database, and auditing that), for the
 * server and for the `keys` commands alike.
 */
export async function openVault(
  settings: KekSettings,
  context: { readonly db: Database; readonly clock: Clock; readonly ids: IdGenerator },
  actor: AuditActor,
  options: { readonly refreshIntervalMs?: number; readonly onRefreshError?: (error: unknown) => void } = {},
): Promise<OpenVault> {
  const kek = await kekFromConfig(settings);
  const keyring = await Keyring.open({
    db: context.db,
    kek,
    clock: context.clock,
    ids: context.ids,
    ...(options.refreshIntervalMs === undefined ? {} : { refreshIntervalMs: options.refreshIntervalMs }),
    ...(options.onRefreshError === undefined ? {} : { onRefreshError: options.onRefreshError }),
  });
  if (keyring.created.length > 0) {
    await context.db.transaction(async (tx) => {
      for (const key of keyring.created) {
        await appendAudit(tx, context, {
          actor,
          action: 'vault.data_key_created',
          target: { type: 'data_key', id: key.id },
          details: { purpose: key.purpose, version: key.version, kek: kek.id },
        });
      }
    });
  }
  return {
    kek,
    keyring,
    close: async () => {
      keyring.close();
      await kek.close();
    },
  };
}
