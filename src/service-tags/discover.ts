// Finds the current ServiceTags_<Cloud>_<yyyymmdd>.json link in Microsoft's download pages. The
// pages change layout now and then, so this looks for the file name anywhere in the HTML (href,
// script data) rather than for one element.

interface FileLink {
  url: string;
  /** The cloud word in the file name: Public, AzureGovernment, China. */
  cloud: string;
  /** yyyymmdd from the file name. */
  date: string;
}

// Everything up to the file name that is not a delimiter: the whole URL, absolute or relative.
const FILE_LINK = /[^\s"'()<>=]*ServiceTags_([A-Za-z]+)_(\d{8})\.json/g;
const CONFIRMATION_LINK = /[^\s"'()<>=]*confirmation\.aspx\?id=\d+/gi;

/** Undoes the escaping a URL picks up inside HTML attributes and inline JSON. */
function unescapeUrl(text: string): string {
  return text
    .replace(/\\u002f/gi, '/')
    .replace(/\\\//g, '/')
    .replace(/&amp;/g, '&')
    .replace(/&#x2f;|&#47;/gi, '/');
}

function resolve(text: string, base: string): URL | null {
  try {
    const url = new URL(unescapeUrl(text), base);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : null;
  } catch {
    return null;
  }
}

function findServiceTagsLinks(html: string, base: string): FileLink[] {
  const links = new Map<string, FileLink>();
  for (const m of html.matchAll(FILE_LINK)) {
    const url = resolve(m[0], base);
    if (url !== null && !links.has(url.href)) links.set(url.href, { url: url.href, cloud: m[1]!, date: m[2]! });
  }
  return [...links.values()];
}

/**
 * The link to download: the newest file for the expected cloud word (a page may list several
 * clouds or versions), else the newest file of any cloud, whose content validation will refuse if
 * it is the wrong one. null when the page links no file.
 */
export function pickServiceTagsLink(html: string, base: string, cloudWord: string): string | null {
  const links = findServiceTagsLinks(html, base);
  const newest = (list: FileLink[]) =>
    list.reduce<FileLink | null>((best, l) => (best === null || l.date > best.date ? l : best), null);
  const pick = newest(links.filter((l) => l.cloud.toLowerCase() === cloudWord.toLowerCase())) ?? newest(links);
  return pick?.url ?? null;
}

/**
 * The confirmation page ("thank you for downloading") that carries the link when the details page
 * does not: linked from the page, else details.aspx?id=N rewritten to confirmation.aspx?id=N.
 */
export function findConfirmationUrl(html: string, base: string): string | null {
  for (const m of html.matchAll(CONFIRMATION_LINK)) {
    const url = resolve(m[0], base);
    if (url !== null && url.href !== base) return url.href;
  }
  const page = new URL(base);
  if (!/details\.aspx$/i.test(page.pathname)) return null;
  page.pathname = page.pathname.replace(/details\.aspx$/i, 'confirmation.aspx');
  return page.href;
}

/** True when a body looks like an HTML page rather than the JSON file. */
export function looksLikeHtml(body: Buffer, contentType: string): boolean {
  const head = body
    .subarray(0, 512)
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (head.startsWith('{')) return false;
  return head.startsWith('<') || /html/i.test(contentType);
}
