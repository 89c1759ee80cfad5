import type { RateSource } from '../compliance/aml/monitor.js';
import { convertAmount, convertByInverseRate, findRate } from './fx.js';

/**
 * The operator's exchange rates (`fx_rates`), for AML monitoring to add up a cardholder's wallets in several
 * currencies in the programme's reporting currency: the rate valid at the activity's time, without the programme's
 * markup (an equivalent, not a price). A rate quoted only the other way is used inverted. No rate: null, and the
 * amount is watched in its own currency only.
 */
export const amlRates: RateSource = {
  async convert(tx, amount, from, to, at) {
    try {
      const direct = await findRate(tx, from, to, at);
      if (direct !== undefined) {
        return convertAmount({
          merchantAmount: amount,
          merchantCurrency: from,
          cardCurrency: to,
          rate: direct.rate,
          markupBps: 0,
        });
      }
      const inverse = await findRate(tx, to, from, at);
      return inverse === undefined ? null : convertByInverseRate(amount, from, to, inverse.rate);
    } catch (error) {
      // A currency unknown to the table, or an equivalent beyond the safe integers: nothing to add up.
      if (error instanceof RangeError) return null;
      throw error;
    }
  },
};
