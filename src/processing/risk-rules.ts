/**
 * A programme's fraud rules as its authorizations use them: created and changed with their event and audit entry
 * in one transaction. The language and its checks are the risk part's (risk/rules.ts); every change that alters
 * what a rule says makes a new version, and a status change (enable, disable) does not.
 */
import type { Actor } from '../issuing/programs.js';
import type { Queryable, Transaction } from '../platform/db/database.js';
import { LantauError, invalidRequest, notFound } from '../platform/errors.js';
import { appendAudit } from '../records/audit.js';
import { emitEvent, type RecordsContext } from '../records/outbox.js';
import {
  changeRule,
  insertRule,
  lockRule,
  RULE_STATUSES,
  type RiskRule,
  type RuleStatus,
} from '../risk/rule-store.js';
import {
  PROTECTION_NAMES,
  parseProtectionSettings,
  storedProtections,
  type ProtectionSettings,
} from '../risk/protections.js';
import { parseRuleDefinition, type RuleDefinition } from '../risk/rules.js';

function definitionOrThrow(input: unknown): RuleDefinition {
  const parsed = parseRuleDefinition(input);
  if (parsed instanceof LantauError) throw parsed;
  return parsed;
}

export async function createRiskRule(
  tx: Transaction,
  context: RecordsContext,
  programId: string,
  input: unknown,
  by: Actor,
): Promise<RiskRule> {
  const definition = definitionOrThrow(input);
  const rule = await insertRule(tx, {
    ruleId: context.ids('rule'),
    programId,
    definition,
    at: context.clock.now(),
    by: by.actor.id,
  });
  await emitEvent(tx, context, { type: 'risk_rule.created', programId, object: rule });
  await appendAudit(tx, context, {
    ...by,
    action: 'risk_rule.created',
    programId,
    target: { type: 'risk_rule', id: rule.id },
    details: { version: rule.version, action: rule.action, mode: rule.mode },
  });
  return rule;
}

const DEFINITION_KEYS = ['name', 'action', 'mode', 'priority', 'conditions'] as const;

/**
 * Changes a rule: any of its definition's properties (a new version, checked whole as if new) and its status.
 * A change that leaves everything as it was makes no version and no event.
 */
export async function updateRiskRule(
  tx: Transaction,
  context: RecordsContext,
  id: string,
  programScope: string | undefined,
  patch: Readonly<Record<string, unknown>>,
  by: Actor,
): Promise<RiskRule> {
  const rule = await lockRule(tx, id);
  if (rule === undefined || (programScope !== undefined && rule.program_id !== programScope)) {
    throw notFound('risk rule', id);
  }
  const { status, ...rest } = patch;
  if (status !== undefined && !(RULE_STATUSES as readonly unknown[]).includes(status)) {
    throw invalidRequest('rule_invalid', `status must be one of ${RULE_STATUSES.join(', ')}`, 'status');
  }
  const current: Record<string, unknown> = {
    name: rule.name,
    action: rule.action,
    mode: rule.mode,
    priority: rule.priority,
    conditions: rule.conditions,
  };
  const unknown = Object.keys(rest).find((key) => !(DEFINITION_KEYS as readonly string[]).includes(key));
  if (unknown !== undefined)
    throw invalidRequest('rule_invalid', `A rule has no property '${unknown}'`, unknown);
  const definition = definitionOrThrow({ ...current, ...rest });
  // Both through the same parser, so the comparison is of meaning, not of key order (jsonb reorders keys).
  const changesDefinition = JSON.stringify(definition) !== JSON.stringify(definitionOrThrow(current));
  const newStatus = status as RuleStatus | undefined;
  if (!changesDefinition && (newStatus === undefined || newStatus === rule.status)) return rule;
  const changed = await changeRule(tx, rule, {
    ...(changesDefinition ? { definition } : {}),
    ...(newStatus === undefined ? {} : { status: newStatus }),
    at: context.clock.now(),
    by: by.actor.id,
  });
  await emitEvent(tx, context, { type: 'risk_rule.updated', programId: rule.program_id, object: changed });
  await appendAudit(tx, context, {
    ...by,
    action: 'risk_rule.updated',
    programId: rule.program_id,
    target: { type: 'risk_rule', id },
    details: {
      version: changed.version,
      status: changed.status,
      changed: [
        ...(changesDefinition ? ['definition'] : []),
        ...(newStatus !== undefined ? ['status'] : []),
      ].join(','),
    },
  });
  return changed;
}

/** A programme's built-in protections as the API shows them. */
export interface RiskProtections extends ProtectionSettings {
  readonly object: 'risk_protections';
  readonly program_id: string;
}

export async function readRiskProtections(db: Queryable, programId: string): Promise<RiskProtections> {
  const found = await db.query<{ risk_protections: unknown }>(
    'SELECT risk_protections FROM programs WHERE id = $1',
    [programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('program', programId, 'program_id');
  return { object: 'risk_protections', program_id: programId, ...storedProtections(row.risk_protections) };
}

/** The settings a change moved, as `card_testing.small_amount: "1000 -> 500"`: audit details are flat. */
function changedSettings(before: ProtectionSettings, after: ProtectionSettings): Record<string, string> {
  const changed: Record<string, string> = {};
  for (const name of PROTECTION_NAMES) {
    const was: Readonly<Record<string, number | boolean>> = before[name];
    for (const [setting, value] of Object.entries(after[name])) {
      if (was[setting] !== value)
        changed[`${name}.${setting}`] = `${String(was[setting])} -> ${String(value)}`;
    }
  }
  return changed;
}

/**
 * Tunes a programme's protections: what `input` names changes, the rest stays. Decisions see the change from their
 * next group on (`risk_rules_version` moves on with it), and it has its event and audit entry.
 */
export async function updateRiskProtections(
  tx: Transaction,
  context: RecordsContext,
  programId: string,
  input: unknown,
  by: Actor,
): Promise<RiskProtections> {
  const found = await tx.query<{ risk_protections: unknown }>(
    'SELECT risk_protections FROM programs WHERE id = $1 FOR UPDATE',
    [programId],
  );
  const row = found.rows[0];
  if (row === undefined) throw notFound('program', programId, 'program_id');
  const before = storedProtections(row.risk_protections);
  const settings = parseProtectionSettings(input, before);
  if (settings instanceof LantauError) throw settings;
  const protections: RiskProtections = { object: 'risk_protections', program_id: programId, ...settings };
  if (JSON.stringify(settings) === JSON.stringify(before)) return protections;
  await tx.query(
    `UPDATE programs SET risk_protections = $2::jsonb, risk_rules_version = risk_rules_version + 1 WHERE id = $1`,
    [programId, JSON.stringify(settings)],
  );
  await emitEvent(tx, context, { type: 'risk_protections.updated', programId, object: protections });
  await appendAudit(tx, context, {
    ...by,
    action: 'risk_protections.updated',
    programId,
    target: { type: 'program', id: programId },
    details: changedSettings(before, settings),
  });
  return protections;
}
