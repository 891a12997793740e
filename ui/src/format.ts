// Turns API values into display text. Everything returns a string that JSX renders as a text node:
// nothing here builds markup, so hostile host names and details stay text.

export function text(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function bytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function time(iso: unknown): string {
  if (typeof iso !== 'string') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function age(seconds: number | null | undefined): string {
  if (typeof seconds !== 'number') return '';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

export function until(iso: string | null | undefined): string {
  if (typeof iso !== 'string') return '';
  const ms = Date.parse(iso) - Date.now();
  if (Number.isNaN(ms)) return '';
  return ms >= 0 ? `in ${age(ms / 1000)}` : `${age(-ms / 1000)} ago`;
}

/** host:port, or host alone for 443. */
export function target(host: unknown, port: unknown): string {
  const h = text(host);
  return typeof port === 'number' && port !== 443 ? `${h}:${port}` : h;
}
