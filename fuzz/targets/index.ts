// Every fuzz target, in the order `npm run fuzz` runs them.
import type { FuzzTarget } from '../lib.js';
import { clientHelloTarget } from './client-hello.js';
import { hostTarget } from './host.js';
import { proxyProtocolTarget } from './proxy-protocol.js';

export const TARGETS: ReadonlyArray<FuzzTarget<unknown>> = [proxyProtocolTarget, clientHelloTarget, hostTarget];
