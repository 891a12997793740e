// Finding the current service-tag file link in download pages, whatever element carries it.
import { describe, expect, it } from 'vitest';
import { findConfirmationUrl, looksLikeHtml, pickServiceTagsLink } from '../../../src/service-tags/discover.js';

const PAGE = 'https://www.microsoft.com/en-us/download/details.aspx?id=56519';
const DL = 'https://download.microsoft.com/download/7/1/D/71D86715-5596-4529-9B13-DA13A5DE5B63';

describe('pickServiceTagsLink', () => {
  it.each([
    {
      name: 'finds the link in an anchor href',
      html: `<a href="${DL}/ServiceTags_Public_20251106.json">Download</a>`,
      want: `${DL}/ServiceTags_Public_20251106.json`,
    },
    {
      name: 'finds the link inside inline JSON with escaped slashes',
      html: `<script>var d={"url":"${DL.replace(/\//g, '\\/')}\\/ServiceTags_Public_20251103.json"}</script>`,
      want: `${DL}/ServiceTags_Public_20251103.json`,
    },
    {
      name: 'resolves a relative link against the page',
      html: `<a href='/download/x/ServiceTags_Public_20251106.json'>`,
      want: 'https://www.microsoft.com/download/x/ServiceTags_Public_20251106.json',
    },
    {
      name: 'prefers the configured cloud over another cloud on the same page',
      html: `<a href="${DL}/ServiceTags_China_20251110.json"></a><a href="${DL}/ServiceTags_Public_20251106.json"></a>`,
      want: `${DL}/ServiceTags_Public_20251106.json`,
    },
    {
      name: 'takes the newest of several files for the cloud',
      html: `<a href="${DL}/ServiceTags_Public_20251027.json"></a> <a href="${DL}/ServiceTags_Public_20251106.json"></a> <a href="${DL}/ServiceTags_Public_20251020.json"></a>`,
      want: `${DL}/ServiceTags_Public_20251106.json`,
    },
    {
      name: 'falls back to another cloud word (content validation then decides)',
      html: `<a href="${DL}/ServiceTags_AzureGovernment_20251106.json">`,
      want: `${DL}/ServiceTags_AzureGovernment_20251106.json`,
    },
    {
      name: 'answers null for a page without a file link',
      html: '<html><body><a href="/en-us/">Home</a></body></html>',
      want: null,
    },
    {
      name: 'ignores a javascript: pseudo-link',
      html: `<a href="javascript:ServiceTags_Public_20251106.json">`,
      want: null,
    },
    {
      name: 'finds a link in an unquoted attribute',
      html: `<a href=${DL}/ServiceTags_Public_20251106.json>`,
      want: `${DL}/ServiceTags_Public_20251106.json`,
    },
  ])('$name', ({ html, want }) => {
    expect(pickServiceTagsLink(html, PAGE, 'Public')).toBe(want);
  });
});

describe('findConfirmationUrl', () => {
  it.each([
    {
      name: 'follows a linked confirmation page',
      html: '<a href="/en-us/download/confirmation.aspx?id=56519">Download</a>',
      base: PAGE,
      want: 'https://www.microsoft.com/en-us/download/confirmation.aspx?id=56519',
    },
    {
      name: 'derives it from a details.aspx URL when the page does not link it',
      html: '<p>nothing</p>',
      base: PAGE,
      want: 'https://www.microsoft.com/en-us/download/confirmation.aspx?id=56519',
    },
    {
      name: 'answers null for a page that is neither',
      html: '<p>nothing</p>',
      base: 'https://example.com/tags.html',
      want: null,
    },
  ])('$name', ({ html, base, want }) => {
    expect(findConfirmationUrl(html, base)).toBe(want);
  });
});

describe('looksLikeHtml', () => {
  it.each([
    { name: 'JSON with an HTML content type is JSON', body: '  {"changeNumber":1}', type: 'text/html', want: false },
    {
      name: 'a page with an octet-stream type is HTML',
      body: '<!DOCTYPE html><html>',
      type: 'application/octet-stream',
      want: true,
    },
    { name: 'JSON after a byte-order mark is JSON', body: '\uFEFF{"a":1}', type: '', want: false },
    { name: 'an empty HTML response is HTML', body: '', type: 'text/html; charset=utf-8', want: true },
  ])('$name', ({ body, type, want }) => {
    expect(looksLikeHtml(Buffer.from(body), type)).toBe(want);
  });
});
