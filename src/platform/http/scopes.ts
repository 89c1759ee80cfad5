/**
 * Permissions are scopes, `resource:read` or `resource:write` (Stripe's restricted keys), plus a few single
 * actions such as `cards:reveal`. Write implies read; `*` grants every scope and `*:read` every read. Reveal is
 * never implied by anything but `*`: seeing a card number is a separate permission (PCI DSS 7.2).
 */
export type Scope = string;

export const SCOPE_PATTERN = /^(\*|\*:read|[a-z][a-z_]*:(read|write|reveal))$/;

export function grants(granted: ReadonlySet<Scope>, wanted: Scope): boolean {
  if (granted.has('*') || granted.has(wanted)) return true;
  const [resource, action] = wanted.split(':');
  if (action === 'read') return granted.has('*:read') || granted.has(`${resource ?? ''}:write`);
  return false;
}
