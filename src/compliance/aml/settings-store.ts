import type { Queryable, Transaction } from '../../platform/db/database.js';
import { json } from '../../platform/db/database.js';
import { notFound } from '../../platform/errors.js';
import { appendAudit, type AuditActor } from '../../records/audit.js';
import { emitEvent, type RecordsContext } from '../../records/outbox.js';
import {
  DEFAULT_SCENARIO_SETTINGS,
  parseScenarioSettings,
  readStoredScenarioSettings,
  type ScenarioSettings,
} from './parameters.js';

/**
 * A programme's AML scenario settings, versioned: each change is a new version of the whole settings (merged over
 * the one before), so an alert names the version it was raised under and a reviewer can see what applied then.
 * Version 0 is the defaults, before any change.
 */
export interface AmlScenarioSettings {
  readonly object: 'aml_scenario_settings';
  readonly program_id: string;
  readonly version: number;
  readonly scenarios: ScenarioSettings;
  readonly created: string | null;
  readonly created_by: string | null;
}

interface SettingsRow {
  version: number;
  settings: unknown;
  created_at: Date;
  created_by: string;
}

async function latest(db: Queryable, programId: string, lock = ''): Promise<SettingsRow | undefined> {
  const found = await db.query<SettingsRow>(
    `SELECT version, settings, created_at, created_by FROM aml_scenario_settings
     WHERE program_id = $1 ORDER BY version DESC LIMIT 1 ${lock}`,
    [programId],
  );
  return found.rows[0];
}

function present(programId: string, row: SettingsRow | undefined): AmlScenarioSettings {
  return {
    object: 'aml_scenario_settings',
    program_id: programId,
    version: row?.version ?? 0,
    // Stored whole by `updateScenarioSettings`; read again so a parameter added to Lantau later fills in.
    scenarios: row === undefined ? DEFAULT_SCENARIO_SETTINGS : readStoredScenarioSettings(row.settings),
    created: row?.created_at.toISOString() ?? null,
    created_by: row?.created_by ?? null,
  };
}

async function assertProgram(db: Queryable, programId: string, lock = ''): Promise<void> {
  const found = await db.query(`SELECT 1 FROM programs WHERE id = $1 ${lock}`, [programId]);
  if (found.rows.length === 0) throw notFound('program', programId);
}

export async function readScenarioSettings(db: Queryable, programId: string): Promise<AmlScenarioSettings> {
  await assertProgram(db, programId);
  return present(programId, await latest(db, programId));
}

/**
 * Applies `changes` (any scenarios, any of their parameters) over the current settings as a new version, with its
 * event and audit entry. Anything unknown or out of range is refused whole, naming it, and nothing is stored.
 */
export async function updateScenarioSettings(
  tx: Transaction,
  context: RecordsContext,
  programId: string,
  changes: unknown,
  by: { readonly actor: AuditActor; readonly requestId?: string },
): Promise<AmlScenarioSettings> {
  // The programme's row, locked: two changes at once make two versions in turn, not one lost.
  await assertProgram(tx, programId, 'FOR UPDATE');
  const current = present(programId, await latest(tx, programId));
  const merged = parseScenarioSettings(changes, current.scenarios);
  const inserted = await tx.query<SettingsRow>(
    `INSERT INTO aml_scenario_settings (program_id, version, settings, created_at, created_by)
     VALUES ($1, $2, $3::jsonb, $4, $5)
     RETURNING version, settings, created_at, created_by`,
    [programId, current.version + 1, json(merged), context.clock.now(), `${by.actor.type}:${by.actor.id}`],
  );
  const settings = present(programId, inserted.rows[0]);
  // Platform-wide: a programme's webhooks must not carry the thresholds a structurer would need.
  await emitEvent(tx, context, { type: 'aml_scenario_settings.updated', programId: null, object: settings });
  await appendAudit(tx, context, {
    ...by,
    action: 'aml_scenario_settings.updated',
    programId,
    target: { type: 'program', id: programId },
    details: {
      version: settings.version,
      scenarios: Object.keys(changes as Record<string, unknown>)
        .sort()
        .join(','),
    },
  });
  return settings;
}
