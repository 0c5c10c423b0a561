/**
 * Where `aft serve` writes its JSON log lines when standard output is not a terminal: the
 * file descriptor, asynchronously (sonic-boom, as pino's own destination), with the bounds
 * pino's default lacks for a reader that misbehaves:
 *
 * - a reader that went away (EPIPE) ends logging, never the node (pino does the same);
 * - a reader that stops reading holds at most `maxBufferedBytes` of lines here; later lines
 *   are dropped, not buffered without end;
 * - the flush before exit gives up on a reader that does not read after `exitFlushRetries`
 *   waits of 100 ms, and on a broken pipe at once. pino's flush at exit (sonic-boom 4) retried
 *   a broken pipe forever when the reader went away just before it (a supervisor that stops
 *   reading as it sends SIGTERM): the node never exited (test/shim/serve-stop.test.ts).
 */
import sonicBoom from 'sonic-boom';

// The package is CommonJS whose module.exports is the class; its types say `export default`,
// which Node's ESM interop makes the module object to TypeScript.
const SonicBoom = sonicBoom as unknown as typeof sonicBoom.default;

export interface LogDestinationOptions {
  /** @default 1 (standard output) */
  readonly fd?: number;
  /** @default 16 MiB */
  readonly maxBufferedBytes?: number;
  /** @default 20 (2 s) */
  readonly exitFlushRetries?: number;
  /** Told once when logging stops (the reader went away, or the descriptor failed). */
  readonly onStopped?: (error: NodeJS.ErrnoException) => void;
}

export interface LogDestination {
  /** What pino writes to. */
  write(line: string): void;
  /** Writes what is buffered, synchronously and within the bound: call before exiting. */
  flushBeforeExit(): void;
}

/**
 * Node's stream for a standard descriptor, made if it was not: making it sets a pipe's
 * descriptor non-blocking, so a write to a reader that does not read fails with EAGAIN (waited
 * for within the bounds above) rather than blocking a thread, and at exit the process.
 */
function standardStreamOf(fd: number): NodeJS.WriteStream | undefined {
  return fd === 1 ? process.stdout : fd === 2 ? process.stderr : undefined;
}

export function logDestination(options: LogDestinationOptions = {}): LogDestination {
  const fd = options.fd ?? 1;
  standardStreamOf(fd);
  const exitFlushRetries = options.exitFlushRetries ?? 20;
  let exiting = false;
  let retriesAtExit = 0;
  let stopped = false;
  const stream = new SonicBoom({
    fd,
    sync: false,
    maxLength: options.maxBufferedBytes ?? 16 * 1024 * 1024,
    // While serving, a reader that is slow is waited for (its lines stay within maxLength);
    // once exiting, only so long.
    retryEAGAIN: () => !exiting || ++retriesAtExit <= exitFlushRetries,
  });
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (stopped) return;
    stopped = true;
    options.onStopped?.(error);
  });
  return {
    write(line) {
      if (!stopped) stream.write(line);
    },
    flushBeforeExit() {
      if (stopped || exiting) return;
      exiting = true;
      try {
        stream.flushSync();
      } catch (error) {
        // The reader is gone or does not read: what is left is lost, and the node exits.
        stopped = true;
        options.onStopped?.(error as NodeJS.ErrnoException);
      }
    },
  };
}
