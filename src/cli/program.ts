/**
 * The `scout` command line: commander wiring only. Each command lives in commands/ and gets a
 * CommandContext; this module maps what they throw to exit codes (exit-codes.ts) and one line
 * on stderr. `run()` takes its streams and environment as arguments, so tests run it in-process.
 */
import { Command, CommanderError, Option } from 'commander';
import { makeContext, type CliIo, type GlobalOptions } from './context.js';
import { CliError, EXIT } from './exit-codes.js';
import { remove } from './commands/delete.js';
import { discover } from './commands/discover.js';
import { exportRange } from './commands/export.js';
import { follow } from './commands/follow.js';
import { TRANSCRIPT_FORMATS_CLI } from './commands/formats.js';
import { get } from './commands/get.js';
import { list, search } from './commands/list.js';
import { login } from './commands/login.js';
import { status } from './commands/status.js';
import { parsePositiveInt, parseWhen } from './when.js';

const EXIT_HELP = `
Exit codes:
  0  ok              3  not found (recording, transcript, or no box discovered)
  1  failed          4  the box refused the token
  2  usage           5  status: unhealthy     6  status: degraded

Configuration: $XDG_CONFIG_HOME/scout/config.json (~/.config/scout/config.json), written by
\`scout login\`; SCOUT_URL and SCOUT_API_TOKEN override it, --url overrides both.`;

function positiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 60) throw new CommanderError(EXIT.usage, 'scout.timeout', 'expected seconds between 0 and 60');
  return seconds;
}

export function buildProgram(io: CliIo, setCode: (code: number) => void): Command {
  const program = new Command('scout');
  const context = (command: Command): ReturnType<typeof makeContext> => makeContext(io, command.optsWithGlobals<GlobalOptions>());
  program
    .description('Talk to a Scout voice recorder on the LAN: list, search, follow and export recordings.')
    .option('--json', 'machine-readable output')
    .option('--url <url>', 'the box to talk to (overrides SCOUT_URL and the saved config)')
    .addHelpText('after', EXIT_HELP)
    .showHelpAfterError('(scout --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(text.replace(/^error: /, 'scout: ')),
    });

  program
    .command('login')
    .description('check a token against a box and save both (the token from --token-file, a pipe, or a prompt)')
    .argument('[url]', 'the box, e.g. http://scout.local:8080 (found by mDNS when omitted and there is one)')
    .option('--token-file <file>', 'read the token from a file (- for stdin)')
    .option('--token <token>', 'the token itself (ends up in shell history: prefer --token-file)')
    .action(async (url: string | undefined, options: { token?: string; tokenFile?: string }, command: Command) => login(context(command), url, options));

  const rangeOptions = (command: Command): Command =>
    command
      .option('--limit <n>', 'at most this many (default 20)', parsePositiveInt)
      .option('--from <time>', 'started at or after (epoch ms, ISO 8601 UTC, today, yesterday, 7d)', (v) => parseWhen(v))
      .option('--to <time>', 'started before', (v) => parseWhen(v))
      .option('--all', 'every page, not just the first --limit');

  rangeOptions(program.command('list').description('recordings, newest first')).action(async (options: object, command: Command) => list(context(command), options));

  rangeOptions(program.command('search').description('recordings whose title or transcript holds every word').argument('<words...>')).action(
    async (words: string[], options: object, command: Command) => search(context(command), words, options),
  );

  program
    .command('get')
    .description('print a transcript (and save the audio with --audio)')
    .argument('<id>')
    .addOption(new Option('--format <format>', 'transcript format').choices(TRANSCRIPT_FORMATS_CLI).default('txt'))
    .option('--audio <file>', 'save the WAV to this file (- for stdout)')
    .action(async (id: string, options: { format: 'txt'; audio?: string }, command: Command) => get(context(command), id, options));

  program
    .command('follow')
    .description('the live recording as it is transcribed, like tail -f (Ctrl-C ends it)')
    .argument('[id]', 'this recording (default: the one being recorded now, or the next)')
    .option('--until-done', 'end when the recording\'s transcript is complete')
    .action(async (id: string | undefined, options: { untilDone?: boolean }, command: Command) => setCode(await follow(context(command), id, options)));

  program
    .command('export')
    .description('download the recordings of a time range as a tar (WAV + transcripts + manifest)')
    .requiredOption('--from <time>', 'started at or after', (v) => parseWhen(v))
    .option('--to <time>', 'started before (default now)', (v) => parseWhen(v))
    .option('--out <path>', 'FILE.tar, a folder, or - for stdout (with --extract: the folder)')
    .option('--extract', 'unpack the files instead of saving the tar')
    .action(async (options: { from: string; to?: string; out?: string; extract?: boolean }, command: Command) =>
      exportRange(context(command), { ...options, to: options.to ?? String(Date.now()) }),
    );

  program
    .command('delete')
    .description('delete a recording, audio and transcript (asks first unless --yes)')
    .argument('<id>')
    .option('-y, --yes', 'do not ask (required when not at a terminal)')
    .action(async (id: string, options: { yes?: boolean }, command: Command) => remove(context(command), id, options));

  program
    .command('status')
    .description('the box\'s health in plain words (exit 0 healthy, 6 degraded, 5 unhealthy)')
    .action(async (_options: object, command: Command) => setCode(await status(context(command))));

  program
    .command('discover')
    .description('find boxes on the LAN by mDNS')
    .option('--timeout <seconds>', 'how long to listen', positiveSeconds, 2)
    .option('--interface <address>', 'the interface address to ask on (default: all)')
    .action(async (options: { timeout: number; interface?: string }, command: Command) => setCode(await discover(context(command), options)));

  return program;
}

/** Runs one command line; resolves with the exit code. Never throws for an expected failure. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (value) => {
    code = value;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliError) {
      io.stderr.write(`scout: ${error.message}\n`);
      return error.exitCode;
    }
    // Not expected: say so plainly, with the stack only when asked for.
    io.stderr.write(`scout: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (io.env.SCOUT_DEBUG) io.stderr.write(`${error instanceof Error ? error.stack : ''}\n`);
    return EXIT.failed;
  }
}
