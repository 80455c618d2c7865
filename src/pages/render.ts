/**
 * The few pages a person sees: sign-in, errors, signed-out and the demo. Self-contained HTML (no external
 * fonts, scripts or images), every dynamic value escaped.
 */

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#fff;--text:#1d2330;--muted:#5b6475;--accent:#2f5bd3;--accent-text:#fff;--border:#dfe3ea;--danger:#b42318;--warn:#8a5a00;--warn-bg:#fff4d6}
@media (prefers-color-scheme:dark){:root{--bg:#11141a;--card:#1a1f28;--text:#e7e9ee;--muted:#a2a9b7;--accent:#6d8ff0;--accent-text:#0b1020;--border:#2b3240;--danger:#ff8a7a;--warn:#ffd27a;--warn-bg:#3a2f12}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;padding:24px}
main{width:100%;max-width:440px;background:var(--card);border:1px solid var(--border);border-radius:14px;padding:32px;box-shadow:0 8px 30px rgba(0,0,0,.06)}
.brand{display:flex;align-items:center;gap:10px;color:var(--muted);font-size:14px;font-weight:600;letter-spacing:.02em;margin-bottom:20px}
.brand svg{width:22px;height:22px}
h1{font-size:22px;line-height:1.3;margin:0 0 8px}
p{margin:0 0 16px;color:var(--muted)}
.error h1{color:var(--danger)}
a.button,button{display:block;width:100%;text-align:center;padding:12px 16px;border:0;border-radius:10px;background:var(--accent);color:var(--accent-text);font:inherit;font-weight:600;text-decoration:none;cursor:pointer}
a.button:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
a.secondary{display:block;text-align:center;margin-top:12px;color:var(--accent)}
label{display:block;font-weight:600;font-size:14px;margin:0 0 6px}
input{width:100%;padding:11px 12px;border:1px solid var(--border);border-radius:10px;background:transparent;color:var(--text);font:inherit;margin-bottom:16px}
.hint{font-size:13px;color:var(--muted);margin:-10px 0 16px}
.banner{background:var(--warn-bg);color:var(--warn);border-radius:10px;padding:10px 12px;font-size:14px;font-weight:600;margin-bottom:20px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:0 0 20px;font-size:15px}
dt{color:var(--muted)}
dd{margin:0;word-break:break-all}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.meta{font-size:12px;color:var(--muted);margin:20px 0 0}
`;

const LOGO = '<svg viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2"><path d="M3 21V9l9-6 9 6v12"/><path d="M9 21v-6a3 3 0 0 1 6 0v6"/></svg>';

/** What a page shows. `body` is trusted HTML built with {@link escapeHtml}. */
export interface PageContent {
  readonly title: string;
  readonly body: string;
  readonly tone?: 'normal' | 'error';
  /** Shown small at the bottom, e.g. the request id. */
  readonly meta?: string;
}

/** Renders a whole page. */
export function renderPage(content: PageContent): string {
  const meta = content.meta === undefined ? '' : `<p class="meta">${escapeHtml(content.meta)}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(content.title)}</title><style>${STYLE}</style></head>
<body><main class="${content.tone === 'error' ? 'error' : ''}"><div class="brand">${LOGO}<span>gatehouse</span></div>
${content.body}${meta}</main></body></html>`;
}
