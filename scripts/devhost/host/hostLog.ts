// The local host's log on stderr, written asynchronously: lines of one turn of the event loop are joined
// and handed to the OS in one write off the main thread, instead of a synchronous write per line (stderr
// on a pipe or a file blocks on Linux), so a request never waits for a terminal or a test's pipe.
// The server awaits flush() before it sends a response, so a request's lines are still on stderr
// before its answer (what a reader of the log, and the tests, expect), without blocking other requests
// meanwhile. Nothing is lost at exit: npm start awaits flush() too, and what is still queued when the
// process exits anyway is written synchronously from the 'exit' event.

import * as fs from 'node:fs';

const STDERR_FD = 2;

class AsyncLineWriter {
  private queued: string[] = [];
  private writing: Promise<void> | undefined;
  private exitHooked = false;

  constructor(private readonly fd: number) {}

  write(line: string): void {
    this.queued.push(line);
    if (!this.exitHooked) {
      this.exitHooked = true;
      process.once('exit', () => this.flushSync());
    }
    this.writing ??= this.drain();
  }

  /** Resolves once every line written so far has reached the OS. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    // One turn later: every line of this turn goes out in the same write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queued.length > 0) {
      const text = this.queued.join('');
      this.queued = [];
      await writeAll(this.fd, Buffer.from(text));
    }
    this.writing = undefined;
  }

  private flushSync(): void {
    if (this.queued.length === 0) return;
    const text = this.queued.join('');
    this.queued = [];
    try {
      fs.writeSync(this.fd, text);
    } catch {
      // stderr is gone: nobody is left to read the log.
    }
  }
}

function writeAll(fd: number, buffer: Buffer): Promise<void> {
  return new Promise((resolve) => {
    fs.write(fd, buffer, 0, buffer.length, null, (error, written) => {
      // A full non-blocking pipe: try again shortly. Any other failure must not take a request down.
      if (error?.code === 'EAGAIN') setTimeout(() => void writeAll(fd, buffer).then(resolve), 10);
      else if (error || written >= buffer.length) resolve();
      else void writeAll(fd, buffer.subarray(written)).then(resolve);
    });
  });
}

const stderrLog = new AsyncLineWriter(STDERR_FD);

/** Appends one line (a newline is added) to the host's log on stderr. */
export function writeLogLine(line: string): void {
  stderrLog.write(`${line}\n`);
}

/** Resolves once every log line so far is written: before process.exit(). */
export function flushLog(): Promise<void> {
  return stderrLog.flush();
}
