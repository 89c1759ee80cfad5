import type { DeviceReading, DeviceSource } from '../compliance/aml/monitor.js';

/**
 * The device or IP behind authorizations and cardholders, for AML monitoring's shared-device scenario: the keyed
 * blind indexes the decision stored (`authorizations.device_index`) and the cardholder's own (`cardholders`
 * `device_index`, `ip_index`, from the device and IP address given at onboarding), never the values. Compliance
 * does not read processing's or issuing's tables; this is the door it is given.
 */
export const amlDevices: DeviceSource = {
  async authorizationDevices(tx, ids) {
    const found = await tx.query<{
      id: string;
      device_index: Uint8Array;
      device_kind: 'device' | 'ip' | null;
    }>(
      `SELECT id, device_index, device_kind FROM authorizations
       WHERE id = ANY($1::text[]) AND device_index IS NOT NULL`,
      [[...ids]],
    );
    return new Map(
      found.rows.map((row): [string, DeviceReading] => [
        row.id,
        // Null for authorizations decided before kinds were stored (migration 0024): the key's other rows tell.
        { key: Buffer.from(row.device_index).toString('hex'), kind: row.device_kind },
      ]),
    );
  },
  async cardholderDevices(tx, cardholderId) {
    const found = await tx.query<{
      device_index: Uint8Array | null;
      ip_index: Uint8Array | null;
      updated_at: Date;
    }>('SELECT device_index, ip_index, updated_at FROM cardholders WHERE id = $1', [cardholderId]);
    const row = found.rows[0];
    if (row === undefined) return undefined;
    const devices: { key: string; kind: 'device' | 'ip' }[] = [];
    if (row.device_index !== null)
      devices.push({ key: Buffer.from(row.device_index).toString('hex'), kind: 'device' });
    if (row.ip_index !== null) devices.push({ key: Buffer.from(row.ip_index).toString('hex'), kind: 'ip' });
    return { devices, updatedAt: row.updated_at.getTime() };
  },
};
