// The proxy's fixed timings and sizes, in one place (the configurable ones are in src/config/schema.ts).

/** A refused client gets its answer, then this long to read it and close before the socket is cut. */
export const REFUSAL_LINGER_MS = 5_000;

/** A drained connection that ignores destroy(): how long stop() waits for its 'close'. */
export const DRAIN_CLOSE_WAIT_MS = 2_000;

/** Plain-HTTP keep-alive connections (proxy.allowPlainHttp) idle between requests this long are closed. */
export const HTTP_KEEP_ALIVE_MS = 5_000;

/** Per-client token buckets kept before full (idle) ones are swept. */
export const RATE_BUCKETS_SWEEP_AT = 10_000;
