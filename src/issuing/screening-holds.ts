import type { Transaction } from '../platform/db/database.js';
import { LantauError } from '../platform/errors.js';
import type { ScreeningStatus } from './cardholder-screening.js';

export type { ScreeningStatus } from './cardholder-screening.js';

/**
 * What a cardholder's sanctions screening forbids: while a potential match awaits a person, and for good once one
 * is confirmed, no card is issued and no money moves in or out of their wallets. A live programme's cardholder not
 * yet screened (no list was loaded when they were created) waits for the re-screen that follows the first load;
 * a sandbox's is let through, so a sandbox works before any list is loaded. `refused` begins the message (`Cards
 * are not issued`); `param` names the request's field that leads to the cardholder.
 */
export function screeningHold(
  status: ScreeningStatus,
  live: boolean,
  refused: string,
  param = 'cardholder_id',
): LantauError | undefined {
  if (status === 'potential_match') {
    return new LantauError(
      'cardholder_screening_hold',
      `${refused}: the cardholder has a potential sanctions match awaiting review`,
      { param },
    );
  }
  if (status === 'confirmed_match') {
    return new LantauError(
      'cardholder_sanctioned',
      `${refused}: the cardholder is a confirmed sanctions match`,
      { param },
    );
  }
  if (status === 'not_screened' && live) {
    return new LantauError(
      'cardholder_not_screened',
      `${refused}: the cardholder has not been screened against the sanctions lists yet (none is loaded)`,
      { param },
    );
  }
  return undefined;
}

/**
 * An AML case under which an analyst paused the cardholder's cards holds the rest too: no new card, no money in or
 * out, until the case is decided (compliance/aml/cases.ts). The words do not say why: the programme's support
 * team reads them, and a cardholder must not be tipped off.
 */
export async function caseHold(
  tx: Transaction,
  cardholderId: string,
  refused: string,
  param = 'cardholder_id',
): Promise<LantauError | undefined> {
  const held = await tx.query(
    `SELECT 1 FROM aml_cases WHERE cardholder_id = $1 AND status IN ('open', 'escalated')
       AND cardinality(paused_card_ids) > 0`,
    [cardholderId],
  );
  if (held.rows.length === 0) return undefined;
  return new LantauError(
    'cardholder_compliance_hold',
    `${refused}: the cardholder is under compliance review`,
    {
      param,
    },
  );
}
