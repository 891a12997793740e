// How a request URL appears in the admin log: the path and the parameter names, never their
// values, since a value may be a token pasted into a URL (?token=...) or a SAS signature.

/** `/api/v1/logs?token=abc&limit=5` -> `/api/v1/logs?token=&limit=`, cut to 300 characters. */
export function logUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url.slice(0, 300);
  const names = url
    .slice(q + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return `${eq === -1 ? pair : pair.slice(0, eq)}=`;
    });
  return `${url.slice(0, q)}?${names.join('&')}`.slice(0, 300);
}
