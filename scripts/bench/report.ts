// The printed report of one run: the rows against the floor, the storage requests behind them, cold
// load, and the targets.

import type { Results } from './results';

function table(header: string[], rows: (string | number | undefined)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === undefined ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const x = (ratio: number | undefined): string | undefined => (ratio === undefined ? undefined : `${ratio.toFixed(2)}x`);

/** The report as text (what `npm run bench` prints on stdout). */
export function renderReport(results: Results): string {
  const { machine, knobs } = results;
  const out: string[] = [];
  out.push(
    `\nBenchmark ${results.date} (commit ${results.commit}): ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, Azurite ${results.azurite} in memory`,
  );
  out.push(
    `load average (1 min) before ${results.loadAverage.before[0]}, after ${results.loadAverage.after[0]}; ${knobs.ops} serial ops per row after ${knobs.warmup} warm-up rounds\n`,
  );
  out.push(
    table(
      [
        'operation',
        'p50 ms',
        'p95 ms',
        'p50 vs floor',
        'storage requests (in a row)',
        'p50 outside storage',
        `ops/s c=${knobs.concurrency}`,
        'ops/s vs floor',
      ],
      results.rows.map((r) => [
        r.side === 'floor' ? r.name : `service: ${r.name}`,
        r.serial.p50.toFixed(2),
        r.serial.p95.toFixed(2),
        x(r.p50VsFloor) ?? '1',
        `${r.storage.total} (${r.storage.sequential})`,
        r.outsideStorageP50.toFixed(2),
        r.concurrent && Math.round(r.concurrent.opsPerSec),
        r.concurrent && (x(r.concurrent.vsFloor) ?? '1'),
      ]),
    ),
  );
  out.push('\nStorage requests per operation, by method and table ($batch is a transaction):');
  for (const r of results.rows) {
    out.push(
      `  ${r.name}: ${Object.entries(r.storage.detail)
        .map(([what, n]) => `${what} ${n}`)
        .join(', ')}`,
    );
  }
  out.push('\nCold load (a fresh node process per run, median):');
  out.push(
    table(
      ['module', 'runs', 'wall ms', 'min', 'max', 'require() ms'],
      results.cold.map((c) => [
        c.name,
        c.runs,
        c.wallMs.median.toFixed(1),
        c.wallMs.min.toFixed(1),
        c.wallMs.max.toFixed(1),
        c.requireMs.median.toFixed(1),
      ]),
    ),
  );
  out.push(`\nBulk jobs, ${knobs.bulkKeys} keys each, in this process (heap: MiB in use before the run and at its peak):`);
  out.push(
    table(
      ['job', 'keys', 's', 'keys/s', 'storage requests per key', 'heap before', 'heap peak', 'RSS peak'],
      results.bulk.map((b) => [
        b.failed === undefined ? b.job : `${b.job} (FAILED: ${b.failed})`,
        b.keys,
        b.seconds,
        b.keysPerSec,
        b.requestsPerKey,
        b.heapBeforeMiB,
        b.heapPeakMiB,
        b.rssPeakMiB,
      ]),
    ),
  );
  for (const b of results.bulk) {
    out.push(
      `  ${b.job}: ${Object.entries(b.detail)
        .map(([what, n]) => `${what} ${n}`)
        .join(', ')}`,
    );
  }
  out.push('\nTargets:');
  for (const t of results.targets) out.push(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.target}: ${t.value}`);
  return `${out.join('\n')}\n`;
}
