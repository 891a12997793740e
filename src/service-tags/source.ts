// Where service tags come from (serviceTags.source): a local file, a URL of the JSON itself, or
// Microsoft's download page from which the current file's link is discovered.

import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AcrEgressError } from '../errors.js';
import { findConfirmationUrl, looksLikeHtml, pickServiceTagsLink } from './discover.js';
import { checkFetchUrl, fetchLimited, type FetchOptions } from './fetch.js';

export type TagSource = { kind: 'none' } | { kind: 'file'; path: string } | { kind: 'url'; url: string };

export function classifySource(source: string | null): TagSource {
  if (source === null) return { kind: 'none' };
  if (/^https?:\/\//i.test(source)) return { kind: 'url', url: source };
  if (/^file:\/\//i.test(source)) return { kind: 'file', path: fileURLToPath(source) };
  return { kind: 'file', path: source };
}

export interface Obtained {
  body: Buffer;
  /** The file's URL or path. */
  origin: string;
  /** The page the link was discovered on, when there was one. */
  page: string | null;
  /**
   * When Microsoft published the data: the date in the file name (ServiceTags_Public_20251106.json,
   * from the path, the URL or the download page's link); else the file's mtime (the cache file is
   * dated with the publication date when written), else the download time. The age runs from it.
   */
  dataTime: number;
  /** Where dataTime came from. */
  dateFrom: DateFrom;
}

export type DateFrom = 'file name' | 'file time' | 'download time';

const DATED_NAME = /ServiceTags_[A-Za-z]+_(\d{4})(\d{2})(\d{2})\.json/;

/** The publication date in a ServiceTags_<Cloud>_<yyyymmdd>.json name (path or URL), as UTC midnight; null without one. */
export function publishedFromName(name: string): number | null {
  const m = DATED_NAME.exec(name);
  if (m === null) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  // 20251332 parses to a different day: a date that does not round-trip is no date.
  return new Date(t).toISOString().slice(0, 10).replace(/-/g, '') === `${m[1]}${m[2]}${m[3]}` ? t : null;
}

function dated(name: string, fallback: number, fallbackFrom: DateFrom): { dataTime: number; dateFrom: DateFrom } {
  const published = publishedFromName(name);
  return published === null
    ? { dataTime: fallback, dateFrom: fallbackFrom }
    : { dataTime: published, dateFrom: 'file name' };
}

export async function readSourceFile(path: string): Promise<Obtained> {
  try {
    const [body, info] = await Promise.all([readFile(path), stat(path)]);
    return { body, origin: path, page: null, ...dated(path, info.mtimeMs, 'file time') };
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new AcrEgressError('SERVICE_TAGS_UNREADABLE', `cannot read service-tag file ${path}: ${reason}`, {
      cause: err,
    });
  }
}

/**
 * Downloads the JSON from url. When url answers with a page, the newest ServiceTags_<cloudWord>_*.json
 * link on it (or on its confirmation page) is followed; that file must then be JSON.
 */
export async function downloadServiceTags(
  url: string,
  cloudWord: string,
  options: FetchOptions,
  now: () => number,
): Promise<Obtained> {
  const accept = 'application/json, text/html;q=0.9, */*;q=0.1';
  const first = await fetchLimited(url, { ...options, accept });
  if (!looksLikeHtml(first.body, first.contentType))
    return { body: first.body, origin: first.url, page: null, ...dated(first.url, now(), 'download time') };
  let page = first.url;
  let link = pickServiceTagsLink(first.body.toString('utf8'), page, cloudWord);
  const tried = [page];
  let confirmationError = '';
  const confirmation = link === null ? findConfirmationUrl(first.body.toString('utf8'), page) : null;
  if (confirmation !== null) {
    try {
      checkFetchUrl(new URL(confirmation), new URL(page), 'link');
      const second = await fetchLimited(confirmation, { ...options, accept });
      page = second.url;
      tried.push(page);
      link = pickServiceTagsLink(second.body.toString('utf8'), page, cloudWord);
    } catch (err) {
      // The missing link is the problem to report; why the fallback page failed is detail.
      confirmationError = ` (confirmation page: ${(err as Error).message})`;
    }
  }
  if (link === null) {
    throw new AcrEgressError(
      'SERVICE_TAGS_LINK_NOT_FOUND',
      `no ServiceTags_${cloudWord}_<date>.json link found on ${tried.join(' or ')}${confirmationError}`,
    );
  }
  checkFetchUrl(new URL(link), new URL(page), 'link');
  options.log.info({ page, link }, 'service-tag file link discovered');
  const file = await fetchLimited(link, { ...options, accept: 'application/json, */*;q=0.1' });
  if (looksLikeHtml(file.body, file.contentType)) {
    throw new AcrEgressError(
      'SERVICE_TAGS_INVALID',
      `${file.url} (linked from ${page}) answered an HTML page, not the service-tag JSON`,
    );
  }
  // The link's name carries the date even when a redirect lands on an undated mirror URL.
  const named = publishedFromName(file.url) === null ? link : file.url;
  return { body: file.body, origin: file.url, page, ...dated(named, now(), 'download time') };
}
