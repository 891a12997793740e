// Every fuzz target, in the order `npm run fuzz` runs them.
import type { FuzzTarget } from '../lib.js';
import { clientHelloTarget } from './client-hello.js';
import { connectRequestTarget } from './connect-request.js';
import { hostTarget } from './host.js';
import { proxyProtocolTarget } from './proxy-protocol.js';
import { requestReaderTarget } from './request-reader.js';

export const TARGETS: ReadonlyArray<FuzzTarget<unknown>> = [
  connectRequestTarget,
  requestReaderTarget,
  proxyProtocolTarget,
  clientHelloTarget,
  hostTarget,
];
