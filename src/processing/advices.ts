/**
 * Advices (ISO 8583 0120): the network decided in stand-in while it could not reach the issuer, or while the
 * issuer's answer was late, and that decision is what the merchant was told. It stands:
 * - with no authorization of that network identity yet, one is recorded as the network decided (decide.ts): every
 *   check still runs and is recorded, an approval holds what the wallet has up to the amount and approves the whole
 *   amount (the rest is collected at clearing), a decline holds nothing;
 * - when Lantau had decided the same request, its decision is brought in line with the network's
 *   (lifecycle.ts `applyStandInIn`);
 * - a repeat of the advice changes nothing.
 * The programme is not asked: the decision is made. It hears `authorization.created` or `authorization.updated`.
 */
import type { Authorization } from './authorizations.js';
import {
  decideAdvice,
  type AuthorizationRequest,
  type NetworkStandIn,
  type ProcessingContext,
} from './authorize.js';
import { applyStandInIn } from './lifecycle.js';

export async function adviseAuthorization(
  context: ProcessingContext,
  request: AuthorizationRequest,
  standIn: NetworkStandIn,
): Promise<Authorization> {
  const recorded = await decideAdvice(context, request, standIn);
  const network = request.network;
  // The advice's own record (or a repeat of it), or an authorization an earlier advice already brought in line.
  if (network === undefined || recorded.checks.some((check) => check.check === 'network_stand_in')) {
    return recorded;
  }
  return context.db.transaction((tx) => applyStandInIn(tx, context, recorded.id, standIn, network));
}
