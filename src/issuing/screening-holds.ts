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
