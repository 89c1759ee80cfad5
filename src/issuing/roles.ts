import type { Scope } from '../platform/http/scopes.js';

/**
 * Operator users' roles. An admin runs the platform; an analyst works compliance (KYC, sanctions, cases) and may
 * pause a card while investigating; support reads everything and helps cardholders. Neither of the last two may
 * reveal a card number: that is `cards:reveal`, which only `*` carries.
 */
export const OPERATOR_ROLES = ['admin', 'analyst', 'support'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export const ROLE_SCOPES: Readonly<Record<OperatorRole, ReadonlySet<Scope>>> = {
  admin: new Set(['*']),
  analyst: new Set(['*:read', 'cases:write', 'kyc:write', 'sanctions:write', 'cards:write']),
  support: new Set(['*:read', 'cardholders:write', 'cards:write']),
};

/** The root operator key (LANTAU_OPERATOR_KEY, or the one generated on first start) can do everything. */
export const ROOT_SCOPES: ReadonlySet<Scope> = new Set(['*']);

export function isOperatorRole(value: string): value is OperatorRole {
  return (OPERATOR_ROLES as readonly string[]).includes(value);
}
