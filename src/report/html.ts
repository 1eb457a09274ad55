/** Minimal HTML building helpers: escaping and tables. */

/** Escapes text for HTML content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A table from a header and rows of already-escaped HTML cells. */
export function htmlTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  className = '',
): string {
  const head = `<tr>${header.map((h) => `<th scope="col">${h}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table${className ? ` class="${className}"` : ''}><thead>${head}</thead><tbody>\n${body}\n</tbody></table>`;
}

/** A two-column key/value table from plain strings (escaped here). */
export function keyValueTable(entries: readonly (readonly [string, string])[]): string {
  const body = entries
    .map(([k, v]) => `<tr><th scope="row"><code>${escapeHtml(k)}</code></th><td>${escapeHtml(v)}</td></tr>`)
    .join('\n');
  return `<table class="kv"><tbody>\n${body}\n</tbody></table>`;
}

/**
 * Prepares a standalone SVG document for inlining in HTML5 as figure `prefix`: drops the XML prolog and namespace
 * declarations (the HTML parser supplies the SVG namespace, and the page then holds no `http://` URL at all), and
 * renames every element id (Vega's gradients and clip paths, numbered by a process-wide counter) to
 * `<prefix>-<k>` in order of appearance, so ids are unique across the page and the same on every rebuild.
 */
export function inlineSvg(svg: string, prefix: string): string {
  const ids = new Map<string, string>();
  const stripped = svg.replace(/^<\?xml[^>]*>\s*/, '').replace(/\sxmlns(:\w+)?="[^"]*"/g, '');
  for (const m of stripped.matchAll(/\sid="([^"]+)"/g)) {
    if (!ids.has(m[1])) ids.set(m[1], `${prefix}-${ids.size + 1}`);
  }
  if (ids.size === 0) return stripped;
  return stripped
    .replace(/(\sid=")([^"]+)(")/g, (all, a: string, id: string, b: string) => `${a}${ids.get(id) ?? id}${b}`)
    .replace(/url\(#([^)]+)\)/g, (all, id: string) => (ids.has(id) ? `url(#${ids.get(id)})` : all))
    .replace(/(href=")#([^"]+)(")/g, (all, a: string, id: string, b: string) =>
      ids.has(id) ? `${a}#${ids.get(id)}${b}` : all,
    );
}

/** A number in fixed notation, or an em dash for missing, null or non-finite values. */
export function formatNumber(value: number | null | undefined, digits: number): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—';
}

/** A fraction as a percentage, or an em dash. */
export function formatPercent(value: number | null | undefined, digits: number): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${(100 * value).toFixed(digits)}%` : '—';
}

/** A duration in seconds, readable: `0.42 s`, `12.3 s`, `4 min 05 s`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${String(Math.round(seconds - 60 * m)).padStart(2, '0')} s`;
}

/** An integer with thin-space thousands separators. */
export function formatCount(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US').replace(/,/g, '\u2009') : '—';
}
