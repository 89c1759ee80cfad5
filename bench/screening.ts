/**
 * `npm run bench -- screening`: sanctions name screening against both lists, in this process, on the code
 * `POST /v1/screening/checks` runs (compliance/sanctions/matching.ts). The snapshots the labelled set was made from
 * (its `sources`, in LANTAU_SANCTIONS_DIR or `../shared/data/sanctions` beside the repository) are parsed as
 * `lantau sanctions load` parses them, one index is built over both, and the labelled set
 * (labelled-screening.json) is screened once for recall and false-positive rate. After a warm-up pass, the set's
 * queries are screened again, whole passes in the set's order, until `--seconds` pass: each check's latency against
 * the target (p99 under 5 ms against both lists, in-process), and checks per second on one core (checks are
 * synchronous: one at a time on this thread).
 *
 * The index keeps each query token's similar vocabulary between checks (common name parts recur), so after the
 * first pass every token of the set is known and the repeated passes measure a warm index. The first pass's
 * latencies, where each token is looked up the first time it is seen, are printed too.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SanctionsEntry } from '../src/compliance/sanctions/entry.js';
import { ListFormatError } from '../src/compliance/sanctions/list-format.js';
import { parseListFile } from '../src/compliance/sanctions/load.js';
import {
  buildScreeningIndex,
  evaluateLabelledSet,
  screen,
  type LabelledScreeningSet,
  type ScreeningQuery,
} from '../src/compliance/sanctions/matching.js';
import { rate } from './support.js';

/** The target: a check against both lists, in-process, under 5 ms at p99. */
const TARGET_P99_MS = 5;

const SET_FILE = new URL('../src/compliance/sanctions/labelled-screening.json', import.meta.url);

/** LANTAU_SANCTIONS_DIR (as `lantau serve` reads it), else the snapshots beside the repository. */
function sanctionsDir(): string {
  const given = process.env.LANTAU_SANCTIONS_DIR?.trim();
  if (given !== undefined && given !== '') return path.resolve(given);
  return fileURLToPath(new URL('../../shared/data/sanctions/', import.meta.url));
}

/** Nearest rank: the smallest value with at least `share` of the values at or below it. */
function percentile(sorted: Float64Array, share: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))] ?? NaN;
}

/** Under a millisecond in µs, else in ms. */
function duration(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

const count = (n: number): string => n.toLocaleString('en-US');
const megabytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const signedMegabytes = (bytes: number): string => `${bytes >= 0 ? '+' : '−'}${megabytes(Math.abs(bytes))}`;
const mark = (met: boolean): string => (met ? '✓' : '✗');

/** The heap in use, after a full collection when the process was started with --expose-gc. */
function heapUsed(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

function latencyLine(sorted: Float64Array): string {
  return [
    `p50 ${duration(percentile(sorted, 0.5))}`,
    `p90 ${duration(percentile(sorted, 0.9))}`,
    `p99 ${duration(percentile(sorted, 0.99))}`,
    `p99.9 ${duration(percentile(sorted, 0.999))}`,
    `max ${duration(sorted[sorted.length - 1] ?? NaN)}`,
  ].join('  ');
}

export function benchScreening(seconds: number): void {
  const set = JSON.parse(readFileSync(SET_FILE, 'utf8')) as LabelledScreeningSet;
  const dir = sanctionsDir();

  // 1. Each list parsed as `lantau sanctions load` parses it, then one index over both.
  const entries: SanctionsEntry[] = [];
  const heapBeforeParse = heapUsed();
  for (const file of set.sources) {
    const bytes = readFileSync(path.join(dir, file));
    const parseStarted = performance.now();
    const parsed = parseListFile(bytes);
    const parseMs = performance.now() - parseStarted;
    if (parsed instanceof ListFormatError) throw new Error(`${path.join(dir, file)}: ${parsed.message}`);
    entries.push(...parsed.entries);
    const skipped =
      parsed.warnings.length > 0
        ? ` (${count(parsed.warnings.length)} optional detail${parsed.warnings.length === 1 ? '' : 's'} skipped)`
        : '';
    console.log(
      `screening parse ${parsed.list.padEnd(4)} ${file} (${megabytes(bytes.length)}): ${count(parsed.entries.length)} entries in ${parseMs.toFixed(0)} ms${skipped}`,
    );
  }
  const heapAfterParse = heapUsed();
  const buildStarted = performance.now();
  const index = buildScreeningIndex(entries);
  const buildMs = performance.now() - buildStarted;
  const heapAfterBuild = heapUsed();
  const gcNote =
    globalThis.gc === undefined
      ? 'no global gc: uncollected garbage included; node --expose-gc for exact figures'
      : 'after a full gc';
  console.log(
    `          index over both lists: ${count(index.stats.entries)} entries, ${count(index.stats.names)} names, ${count(index.stats.vocabulary)} vocabulary; built in ${count(Math.round(buildMs))} ms (its own 200 warm-up checks included)`,
  );
  console.log(
    `          heap: index ${signedMegabytes(heapAfterBuild - heapAfterParse)}, parsed entries ${signedMegabytes(heapAfterParse - heapBeforeParse)}, ${megabytes(heapAfterBuild)} in use (${gcNote})`,
  );

  // 2. The labelled set, once: recall and false-positive rate, and the first sight of its tokens.
  const evaluation = evaluateLabelledSet(index, set);
  const missed = evaluation.missed.length > 0 ? ` (${evaluation.missed.join(' ')})` : '';
  const falsePositives =
    evaluation.falsePositives.length > 0 ? `; false positives ${evaluation.falsePositives.join(' ')}` : '';
  console.log(
    `          labelled set: ${count(evaluation.positives)} positives, ${count(evaluation.negatives)} negatives; recall ${evaluation.recall.toFixed(3)}, false-positive rate ${evaluation.falsePositiveRate.toFixed(3)}; ${count(evaluation.missed.length)} misses${missed}${falsePositives}`,
  );
  console.log(
    `          first pass (each token looked up when first seen): ${latencyLine(Float64Array.from(evaluation.latenciesMs).sort())}`,
  );

  // 3 and 4. A warm-up pass, whose answers every measured pass must repeat, then whole passes of the set's queries
  // in order until the run's time is up.
  const queries: readonly ScreeningQuery[] = set.queries.map((labelled) => labelled.query);
  const answers = queries.map((query) => screen(index, query).decision);
  let latencies = new Float64Array(1 << 16);
  let checks = 0;
  let passes = 0;
  let differing = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    for (const [at, query] of queries.entries()) {
      const before = performance.now();
      const result = screen(index, query);
      const elapsed = performance.now() - before;
      if (checks === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[checks] = elapsed;
      checks += 1;
      if (result.decision !== answers[at]) differing += 1;
    }
    passes += 1;
  }
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = latencies.slice(0, checks).sort();
  const p99 = percentile(sorted, 0.99);
  console.log(
    `          per check against both lists, in-process, warm (${count(checks)} checks: the labelled set's ${count(queries.length)} queries ×${count(passes)}, ${String(seconds)} s):`,
  );
  console.log(
    `          ${latencyLine(sorted)}  (target: p99 < ${String(TARGET_P99_MS)} ms ${mark(p99 < TARGET_P99_MS)})`,
  );
  const cores = (cpu.user + cpu.system) / 1000 / ms;
  const changed =
    differing > 0 ? `; !! ${count(differing)} checks answered otherwise than in the warm-up pass` : '';
  console.log(
    `          ${rate(checks, ms)} checks/s on one core (one check at a time on this thread; the process used ${cores.toFixed(2)} of a core, garbage collection's threads included)${changed}`,
  );
}
