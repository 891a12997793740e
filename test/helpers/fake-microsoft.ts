// A local HTTP server on 127.0.0.1 that plays Microsoft's download site: a details page linking the
// current ServiceTags_*.json, a confirmation-page variant, the JSON file itself, and failure modes.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How the next requests are answered. */
export type FakeMode =
  | 'ok' // details page links the file; the file is served
  | 'confirmation' // details page has no file link, only a link to the confirmation page, which has it
  | 'no-link' // neither page links a file
  | 'http-500' // every route answers 500
  | 'hang' // the file route never answers (timeout)
  | 'stall-body' // the file route sends headers and part of the body, then stalls
  | 'truncated' // the file body is cut in half (well-framed: the JSON ends early)
  | 'cut' // the file route promises the whole body (Content-Length) and closes half-way
  | 'huge' // the file route streams without Content-Length, far past any cap
  | 'huge-declared' // the file route declares a Content-Length far past any cap
  | 'redirect-http' // the file route redirects to plain http on a non-loopback address
  | 'redirect-loop' // the file route redirects to itself
  | 'redirect-ok'; // the file route redirects once to a loopback mirror that serves it

interface FakeRequest {
  path: string;
  userAgent: string | undefined;
}

export interface FakeMicrosoft {
  readonly origin: string;
  /** Details page for a cloud's download id (56519 Public by default). */
  detailsUrl(id?: number): string;
  /** Direct URL of the JSON file (for `source: <json url>`). */
  readonly jsonUrl: string;
  /** Serves body as the current file, named ServiceTags_<cloudWord>_<date>.json on the pages. */
  publish(body: string, date?: string, cloudWord?: string): void;
  setMode(mode: FakeMode): void;
  readonly requests: FakeRequest[];
  close(): Promise<void>;
}

const FILE_DIR = '/download/7/1/D/71D86715-5596-4529-9B13-DA13A5DE5B63';

function page(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en-us"><head><title>${title}</title></head><body><main>${body}</main></body></html>`;
}

export async function startFakeMicrosoft(): Promise<FakeMicrosoft> {
  let mode: FakeMode = 'ok';
  let json = '{}';
  // Published today by default: fresh data, unless a test names an older date.
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  let fileName = `ServiceTags_Public_${today}.json`;
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  let origin = '';

  const fileUrl = () => `${origin}${FILE_DIR}/${fileName}`;
  const detailsPage = (id: string) => {
    if (mode === 'confirmation' || mode === 'no-link') {
      return page(
        'Download Azure IP Ranges and Service Tags',
        `<a class="btn" href="/en-us/download/confirmation.aspx?id=${id}">Download</a>`,
      );
    }
    // Like the real page: the link both as an anchor and inside the page's inline JSON data.
    const escaped = fileUrl().replace(/\//g, '\\/');
    return page(
      'Download Azure IP Ranges and Service Tags',
      `<a href="${fileUrl()}" class="mscom-link">Download</a><script>window.__DLCDetails__={"dlcDetailsView":{"downloadFile":[{"name":"${fileName}","url":"${escaped}"}]}}</script>`,
    );
  };
  const confirmationPage = () =>
    mode === 'no-link'
      ? page('Thank you for downloading', '<p>Your download will start shortly.</p>')
      : page(
          'Thank you for downloading',
          `<p>If your download does not start, <a href="${fileUrl()}">click here</a>.</p>`,
        );

  const serveFile = (res: ServerResponse): void => {
    const bytes = Buffer.from(json);
    switch (mode) {
      case 'hang':
        return; // never answers; the client's timeout must end it
      case 'stall-body':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length });
        res.write(bytes.subarray(0, bytes.length >> 1));
        return;
      case 'truncated':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(bytes.subarray(0, bytes.length >> 1));
        return;
      case 'cut':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length });
        res.write(bytes.subarray(0, bytes.length >> 1), () => res.socket?.destroy());
        return;
      case 'huge':
      case 'huge-declared': {
        const headers: Record<string, string | number> = { 'content-type': 'application/json' };
        if (mode === 'huge-declared') headers['content-length'] = 1 << 30;
        res.writeHead(200, headers);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        // Writes until the client gives up (or 64 MiB, so a broken client cannot hang the test).
        let sent = 0;
        const pump = (): void => {
          while (sent < 64 << 20 && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      case 'redirect-http':
        res.writeHead(302, { location: `http://192.0.2.10${FILE_DIR}/${fileName}` }).end();
        return;
      case 'redirect-loop':
        res.writeHead(302, { location: `${FILE_DIR}/${fileName}` }).end();
        return;
      case 'redirect-ok':
        res.writeHead(301, { location: `/mirror/${fileName}` }).end();
        return;
      default:
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', origin);
    requests.push({ path: `${url.pathname}${url.search}`, userAgent: req.headers['user-agent'] });
    res.on('error', () => undefined);
    if (mode === 'http-500') {
      res.writeHead(500, { 'content-type': 'text/html' }).end(page('Error', 'Something went wrong'));
      return;
    }
    const html = (text: string) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(text);
    const id = url.searchParams.get('id') ?? '';
    if (/\/download\/details\.aspx$/i.test(url.pathname)) return html(detailsPage(id));
    if (/\/download\/confirmation\.aspx$/i.test(url.pathname)) return html(confirmationPage());
    if (url.pathname === `${FILE_DIR}/${fileName}` || url.pathname === '/json') return serveFile(res);
    if (url.pathname === `/mirror/${fileName}`) {
      const bytes = Buffer.from(json);
      return void res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length }).end(bytes);
    }
    res.writeHead(404).end();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    detailsUrl: (id = 56519) => `${origin}/en-us/download/details.aspx?id=${id}`,
    jsonUrl: `${origin}/json`,
    publish(body, date = today, cloudWord = 'Public') {
      json = body;
      fileName = `ServiceTags_${cloudWord}_${date}.json`;
    },
    setMode(next) {
      mode = next;
    },
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

/** A loopback port with nothing listening (connection refused). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}
