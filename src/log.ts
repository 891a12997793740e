// The operational log (not the audit log): pino on stderr, with ISO times and level names as the
// decision records have, so one log pipeline parses both; and one way to name the component a line
// comes from. Pino appends a child's bindings to its parent's, so binding `component` on a logger
// that already has one writes the key twice in every line; componentLog never does.
import pino, { type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';

/** The logger each component logger was made from: children are made from it, not from each other. */
const roots = new WeakMap<Logger, Logger>();

/** Pino at `level` on stderr (or `destination`), with no component bound: componentLog adds one. */
export function createOperationalLog(level: string, destination: DestinationStream = pino.destination(2)): Logger {
  return pino(
    { level, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    destination,
  );
}

/**
 * A logger whose lines carry `component: name` exactly once. Given a component logger it starts
 * again from that logger's root; given a foreign logger that already binds a component, it keeps that
 * one rather than adding a second.
 */
export function componentLog(log: Logger, name: string, options?: ChildLoggerOptions): Logger {
  const root = roots.get(log) ?? log;
  if (!roots.has(log) && 'component' in log.bindings()) return options ? log.child({}, options) : log;
  const child = root.child({ component: name }, options);
  roots.set(child, root);
  return child;
}
