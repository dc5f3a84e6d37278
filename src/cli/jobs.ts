/**
 * Watching and stopping long compactions from the command line (docs/jobs.md):
 * `compactd jobs --endpoint HOST:PORT [--watch]` lists queued, running and recent compactions
 * with progress bars; `compactd cancel --endpoint HOST:PORT ID` stops one by id. The progress
 * rendering is shared with `compact --progress`.
 */
import type { CompactionProgressView, CompactionSummaryView, CompactStreamEvent } from '../client/compact-stream.js';
import { validateCompactionId } from '../model/compaction-id.js';
import { invalid } from '../model/errors.js';
import { formatHelp, parseFlags } from './args.js';
import { flagCommand, write, type CliCommand, type TextSink } from './command.js';
import { commandInfo } from './catalog.js';
import { CLIENT_FLAGS, clientOptionsFromFlags } from './client-flags.js';

/** Redraw period of `jobs --watch`: as often as the service's default progress interval. */
const WATCH_INTERVAL_MS = 1000;
const BAR_WIDTH = 24;

function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function fmtSeconds(s: number): string {
  if (s < 0) return '?';
  return s < 90 ? `${s.toFixed(0)}s` : `${(s / 60).toFixed(1)}m`;
}

/** A text progress bar: `[#########---------]  42%`. */
export function progressBar(p: CompactionProgressView): string {
  const frac = p.inputBytesTotal > 0 ? Math.min(1, p.inputBytesDone / p.inputBytesTotal) : 0;
  const filled = Math.round(frac * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${(100 * frac).toFixed(0).padStart(3)}%`;
}

/** One line describing a progress report. */
export function progressLine(p: CompactionProgressView): string {
  return (
    `${p.compactionId} ${progressBar(p)} ${p.phase} chunk ${Math.min(p.chunk + 1, Math.max(1, p.chunks))}/${p.chunks}` +
    ` in ${fmtBytes(p.inputBytesDone)}/${fmtBytes(p.inputBytesTotal)} out ${p.outputParts} parts ${fmtBytes(p.outputBytes)}` +
    (p.resumedBytes > 0 ? ` resumed ${fmtBytes(p.resumedBytes)}` : '') +
    ` ${fmtSeconds(p.elapsedSeconds)} elapsed, ${fmtSeconds(p.remainingSeconds)} left`
  );
}

/**
 * Draws a stream's events on `sink`: on a terminal one bar redrawn in place, otherwise one line
 * per finished chunk (and per re-send), so logs stay readable.
 */
export function progressRenderer(sink: TextSink, tty: boolean): { event(e: CompactStreamEvent): Promise<void>; end(): Promise<void> } {
  let drawn = false;
  return {
    async event(e) {
      if (e.type === 'progress' && tty) {
        await write(sink, `\r\x1b[2K${progressLine(e.progress)}`);
        drawn = true;
      } else if (e.type === 'chunk') {
        if (!tty) await write(sink, `chunk ${e.chunk} done: ${e.parts.length} parts\n`);
      } else if (e.type === 'accepted') {
        await write(sink, `compaction ${e.compactionId} accepted${e.resumed ? ` (resumed, epoch ${e.epoch})` : ''}\n`);
      } else if (e.type === 'resend') {
        await write(sink, `${drawn ? '\n' : ''}re-sending (attempt ${e.attempt}): ${e.error.message}\n`);
        drawn = false;
      }
    },
    async end() {
      if (drawn) await write(sink, '\n');
    },
  };
}

function table(jobs: { active: CompactionSummaryView[]; recent: CompactionSummaryView[] }): string {
  const lines: string[] = [];
  lines.push(`running and queued: ${jobs.active.length}`);
  for (const j of jobs.active) lines.push(`  ${j.state.padEnd(9)} ${progressLine(j.progress)}${j.resumed ? ' (resumed)' : ''}`);
  lines.push(`recent: ${jobs.recent.length}`);
  for (const j of jobs.recent) {
    lines.push(
      `  ${j.state.padEnd(9)} ${j.compactionId} shard ${j.shardId} ${j.progress.outputParts} parts ${fmtBytes(j.progress.outputBytes)}` +
        ` ${fmtSeconds(j.finishedSecondsAgo)} ago${j.error ? ` ${j.error}` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const ENDPOINT_FLAG = { name: 'endpoint', type: 'string', valueName: 'HOST:PORT', help: 'address of a running compactd service', required: true } as const;

export const jobsCommand = flagCommand({
  ...commandInfo('jobs'),
  details: 'With --watch the list is redrawn every second until interrupted.',
  flags: [ENDPOINT_FLAG, { name: 'watch', type: 'boolean', help: 'redraw every second' }, ...CLIENT_FLAGS],
  async run(flags, io) {
    // Loaded when the command runs, so that other commands (and --help) do not pay for gRPC.
    const { CompactorClient } = await import('../client/compactor-client.js');
    const client = new CompactorClient({ address: String(flags.get('endpoint')), retries: 0, ...(await clientOptionsFromFlags(flags, io.cwd)) });
    try {
      if (flags.get('watch') !== true) {
        await write(io.stdout, table(await client.listCompactions({ deadlineMs: 10_000 })));
        return 0;
      }
      for (;;) {
        const text = table(await client.listCompactions({ deadlineMs: 10_000 }));
        await write(io.stdout, `\x1b[H\x1b[2J${new Date().toISOString()}\n${text}`);
        await new Promise((r) => setTimeout(r, WATCH_INTERVAL_MS));
      }
    } finally {
      client.close();
    }
  },
});

const CANCEL_FLAGS = [ENDPOINT_FLAG, ...CLIENT_FLAGS];

/** `compactd cancel --endpoint HOST:PORT ID`: the id is the last argument. */
export const cancelCommand: CliCommand = {
  ...commandInfo('cancel'),
  async run(argv, io) {
    const last = argv[argv.length - 1];
    const hasId = argv.length > 0 && !last.startsWith('-') && !['--endpoint', ...CLIENT_FLAGS.map((f) => `--${f.name}`)].includes(argv[argv.length - 2] ?? '');
    const parsed = parseFlags(hasId ? argv.slice(0, -1) : argv, CANCEL_FLAGS, 'cancel');
    if (parsed.help) {
      await write(io.stdout, formatHelp('cancel ID', this.summary, CANCEL_FLAGS, 'Exits 0 when the service had the compaction, 1 when it did not.'));
      return 0;
    }
    if (!hasId) throw invalid('cancel: give the compaction id as the last argument');
    validateCompactionId(last);
    // Loaded when the command runs, so that other commands (and --help) do not pay for gRPC.
    const { CompactorClient } = await import('../client/compactor-client.js');
    const client = new CompactorClient({ address: String(parsed.values.get('endpoint')), retries: 0, ...(await clientOptionsFromFlags(parsed.values, io.cwd)) });
    try {
      const found = await client.cancelCompaction(last, { deadlineMs: 10_000 });
      await write(found ? io.stdout : io.stderr, found ? `cancelled ${last}\n` : `cancel: no queued or running compaction ${last} on this service\n`);
      return found ? 0 : 1;
    } finally {
      client.close();
    }
  },
};
