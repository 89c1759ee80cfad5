/**
 * Where rules are kept: `risk_rules` holds each rule's identity, status and current version, and
 * `risk_rule_versions` every version of what it says. Writes happen in the caller's transaction, which also writes
 * the change's event and audit entry (processing/risk-rules.ts).
 */
import type { Queryable, Transaction } from '../platform/db/database.js';
import type { RuleCondition, RuleDefinition, RuleVersion } from './rules.js';
import { evaluationOrder } from './rules.js';

export const RULE_STATUSES = ['enabled', 'disabled'] as const;
export type RuleStatus = (typeof RULE_STATUSES)[number];

/** A rule as the API shows it: its current version. */
export interface RiskRule {
  readonly id: string;
  readonly object: 'risk_rule';
  readonly program_id: string;
  readonly version: number;
  readonly status: RuleStatus;
  readonly name: string;
  readonly action: RuleDefinition['action'];
  readonly mode: RuleDefinition['mode'];
  readonly priority: number;
  readonly conditions: readonly RuleCondition[];
  /** When the rule was created, and when its current version or status was set. */
  readonly created: string;
  readonly updated: string;
}

/** One version of a rule, as `GET /v1/risk/rules/{id}/versions` lists them. */
export interface RiskRuleVersion {
  readonly object: 'risk_rule_version';
  readonly rule_id: string;
  readonly version: number;
  readonly name: string;
  readonly action: RuleDefinition['action'];
  readonly mode: RuleDefinition['mode'];
  readonly priority: number;
  readonly conditions: RuleCondition[];
  readonly created: string;
  readonly created_by: string;
}

interface VersionRow {
  rule_id: string;
  version: number;
  name: string;
  action: RuleDefinition['action'];
  mode: RuleDefinition['mode'];
  priority: number;
  conditions: RuleCondition[];
  created_at: Date;
  created_by: string;
}

type RuleRow = VersionRow & {
  program_id: string;
  status: RuleStatus;
  rule_created_at: Date;
  updated_at: Date;
};

/** Every rule read joins its current version; the table aliases are r (rule) and v (version). */
export const RULE_SELECT = `SELECT r.id AS rule_id, r.program_id, r.status, r.created_at AS rule_created_at,
  r.updated_at, v.version, v.name, v.action, v.mode, v.priority, v.conditions, v.created_at, v.created_by
  FROM risk_rules r JOIN risk_rule_versions v ON v.rule_id = r.id AND v.version = r.version`;

export function riskRuleFromRow(row: RuleRow): RiskRule {
  return {
    id: row.rule_id,
    object: 'risk_rule',
    program_id: row.program_id,
    version: row.version,
    status: row.status,
    name: row.name,
    action: row.action,
    mode: row.mode,
    priority: row.priority,
    conditions: row.conditions,
    created: row.rule_created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

function versionFromRow(row: VersionRow): RiskRuleVersion {
  return {
    object: 'risk_rule_version',
    rule_id: row.rule_id,
    version: row.version,
    name: row.name,
    action: row.action,
    mode: row.mode,
    priority: row.priority,
    conditions: row.conditions,
    created: row.created_at.toISOString(),
    created_by: row.created_by,
  };
}

export interface NewVersion {
  readonly ruleId: string;
  readonly programId: string;
  readonly version: number;
  readonly definition: RuleDefinition;
  readonly at: Date;
  readonly by: string;
}

async function insertVersion(tx: Transaction, version: NewVersion): Promise<void> {
  const { definition } = version;
  await tx.query(
    `INSERT INTO risk_rule_versions (rule_id, version, program_id, name, action, mode, priority, conditions,
       created_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)`,
    [
      version.ruleId,
      version.version,
      version.programId,
      definition.name,
      definition.action,
      definition.mode,
      definition.priority,
      JSON.stringify(definition.conditions),
      version.at,
      version.by,
    ],
  );
}

/** Moves the programme's rules version on, so every process re-reads its rules at its next decision. */
async function rulesChanged(tx: Transaction, programId: string): Promise<void> {
  await tx.query('UPDATE programs SET risk_rules_version = risk_rules_version + 1 WHERE id = $1', [
    programId,
  ]);
}

export async function insertRule(tx: Transaction, first: Omit<NewVersion, 'version'>): Promise<RiskRule> {
  await tx.query(
    `INSERT INTO risk_rules (id, program_id, version, status, created_at, updated_at)
     VALUES ($1, $2, 1, 'enabled', $3, $3)`,
    [first.ruleId, first.programId, first.at],
  );
  await insertVersion(tx, { ...first, version: 1 });
  await rulesChanged(tx, first.programId);
  const created = await readRule(tx, first.ruleId);
  if (created === undefined) throw new Error('a rule just inserted is not there');
  return created;
}

/** The rule, its current version locked against a concurrent change. */
export async function lockRule(tx: Transaction, id: string): Promise<RiskRule | undefined> {
  const locked = await tx.query<{ id: string }>('SELECT id FROM risk_rules WHERE id = $1 FOR UPDATE', [id]);
  return locked.rows.length === 0 ? undefined : readRule(tx, id);
}

/** A new version of a locked rule, a new status, or both. */
export async function changeRule(
  tx: Transaction,
  rule: RiskRule,
  change: {
    readonly definition?: RuleDefinition;
    readonly status?: RuleStatus;
    readonly at: Date;
    readonly by: string;
  },
): Promise<RiskRule> {
  const version = change.definition === undefined ? rule.version : rule.version + 1;
  if (change.definition !== undefined) {
    await insertVersion(tx, {
      ruleId: rule.id,
      programId: rule.program_id,
      version,
      definition: change.definition,
      at: change.at,
      by: change.by,
    });
  }
  await tx.query('UPDATE risk_rules SET version = $2, status = $3, updated_at = $4 WHERE id = $1', [
    rule.id,
    version,
    change.status ?? rule.status,
    change.at,
  ]);
  await rulesChanged(tx, rule.program_id);
  const changed = await readRule(tx, rule.id);
  if (changed === undefined) throw new Error('a rule just changed is not there');
  return changed;
}

export async function readRule(
  db: Queryable,
  id: string,
  programScope?: string,
): Promise<RiskRule | undefined> {
  const found = await db.query<RuleRow>(
    `${RULE_SELECT} WHERE r.id = $1 AND ($2::text IS NULL OR r.program_id = $2)`,
    [id, programScope ?? null],
  );
  const row = found.rows[0];
  return row === undefined ? undefined : riskRuleFromRow(row);
}

export async function readRuleVersions(db: Queryable, id: string): Promise<RiskRuleVersion[]> {
  const found = await db.query<VersionRow>(
    `SELECT rule_id, version, name, action, mode, priority, conditions, created_at, created_by
     FROM risk_rule_versions WHERE rule_id = $1 ORDER BY version DESC`,
    [id],
  );
  return found.rows.map(versionFromRow);
}

/** A programme's enabled rules, current versions, in evaluation order: what its decisions run. */
export async function enabledRules(db: Queryable, programId: string): Promise<RuleVersion[]> {
  const found = await db.query<RuleRow>(`${RULE_SELECT} WHERE r.program_id = $1 AND r.status = 'enabled'`, [
    programId,
  ]);
  return evaluationOrder(
    found.rows.map((row) => ({
      id: row.rule_id,
      version: row.version,
      name: row.name,
      action: row.action,
      mode: row.mode,
      priority: row.priority,
      conditions: row.conditions,
    })),
  );
}
