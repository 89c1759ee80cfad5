import type { DeviceSource } from '../compliance/aml/monitor.js';

/**
 * The device or IP behind authorizations, for AML monitoring's shared-device scenario: the keyed blind index the
 * decision stored (`authorizations.device_index`), never the value. Compliance does not read processing's tables;
 * this is the door it is given.
 */
export const authorizationDevices: DeviceSource = {
  async authorizationDevices(tx, ids) {
    const found = await tx.query<{ id: string; device_index: Uint8Array }>(
      'SELECT id, device_index FROM authorizations WHERE id = ANY($1::text[]) AND device_index IS NOT NULL',
      [[...ids]],
    );
    return new Map(found.rows.map((row) => [row.id, Buffer.from(row.device_index).toString('hex')]));
  },
};
