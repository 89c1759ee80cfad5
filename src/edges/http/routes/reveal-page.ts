import { Type } from 'typebox';
import { openRevealSession, type CardDetails } from '../../../issuing/card-reveal.js';
import type { IssuingContext } from '../../../issuing/programs.js';
import type { LantauApp } from '../../../platform/http/server.js';

const TOKEN = '^[A-Za-z0-9_-]{43}$';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

function groupDigits(pan: string): string {
  return pan.replace(/(\d{4})(?=\d)/g, '$1 ');
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center;background:#f4f5f7}
.card{background:linear-gradient(135deg,#0b3d91,#1f6feb);color:#fff;border-radius:16px;padding:28px 32px;width:340px;box-shadow:0 8px 24px rgba(0,0,0,.2)}
.pan{font-size:24px;letter-spacing:2px;font-family:ui-monospace,monospace;margin:24px 0;user-select:all}
.row{display:flex;gap:40px}.label{font-size:11px;opacity:.8;text-transform:uppercase}.value{font-family:ui-monospace,monospace;font-size:18px;user-select:all}
.note{color:#333;text-align:center}
</style></head><body>${body}</body></html>`;
}

function cardPage(details: CardDetails): string {
  const expiry = `${String(details.exp_month).padStart(2, '0')}/${String(details.exp_year % 100).padStart(2, '0')}`;
  return page(
    'Your card',
    `<div class="card"><div class="label">Card number</div><div class="pan">${escapeHtml(groupDigits(details.pan))}</div>
<div class="row"><div><div class="label">Expires</div><div class="value">${escapeHtml(expiry)}</div></div>
<div><div class="label">CVV2</div><div class="value">${escapeHtml(details.cvv2)}</div></div></div></div>`,
  );
}

/**
 * The page a reveal session's link opens: the card once, then never again. It is served by Lantau so the
 * programme's own servers never see the number; nothing on it is cached, referred or (unless the session named an
 * origin) framed.
 */
export function registerRevealPage(app: LantauApp, context: IssuingContext): void {
  app.get(
    '/reveal/:token',
    {
      config: { auth: 'none' },
      // HEAD must not use the link up: link previewers and mail scanners send it without a person to see the card.
      exposeHeadRoute: false,
      schema: { hide: true, params: Type.Object({ token: Type.String({ pattern: TOKEN }) }) },
    },
    async (request, reply) => {
      const opened = await openRevealSession(context, request.params.token);
      void reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .header('x-content-type-options', 'nosniff')
        .header(
          'content-security-policy',
          `default-src 'none'; style-src 'unsafe-inline'; frame-ancestors ${opened?.allowedOrigin ?? "'none'"}`,
        );
      if (opened === undefined) {
        void reply.code(410);
        return page(
          'Link expired',
          '<p class="note">This link has expired or was already used. Ask the app for a new one.</p>',
        );
      }
      return cardPage(opened.details);
    },
  );
}
