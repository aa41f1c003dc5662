/**
 * `optibench serve`: an optibench config as a system under test. The organizer's optibench with the team's
 * plugins loads the model the harness names and answers each pass, batched by the config's schedule (its
 * plugins' `schedule` hooks included), one answers line per batch. It keeps no clock that counts: the harness
 * times everything from outside.
 */
import { createInterface } from 'node:readline';
import { createBackend } from '../../../backends/index.js';
import type { Backend } from '../../../core/backend.js';
import type { JsonObject, JsonValue } from '../../../core/json.js';
import { modelInfo, readLlamaConfig } from '../../../models/llama/hf-model.js';
import { backendSettings } from '../backend-settings.js';
import { loadConfig, type RunConfig } from '../config.js';
import { loadPlugins, type LoadedInferencePlugin } from '../plugins.js';
import { scheduleRequests } from '../schedule.js';
import { SUT_PROTOCOL, SUT_PROTOCOL_VERSION, type HarnessMessage, type WireRequest } from './protocol.js';

export interface ServeIo {
  readonly input: NodeJS.ReadableStream;
  /** Writes one protocol line (the caller keeps stdout for the protocol alone). */
  readonly write: (line: string) => void;
  readonly log: (message: string) => void;
}

export interface ServeOptions {
  /**
   * Answer without a model (every log-prob -1, never greedy): what the protocol itself costs, measured by
   * `optibench sut bench`. Never a submission: its answers score at chance.
   */
  readonly noModel?: boolean;
}

function send(io: ServeIo, message: object): void {
  io.write(`${JSON.stringify(message)}\n`);
}

function pluginFacts(plugins: readonly LoadedInferencePlugin[]): JsonValue[] {
  return plugins.map((p) => ({ name: p.definition.name, version: p.definition.version, source: p.source, options: (p.options ?? null) as JsonValue, facts: p.hooks.describe?.() ?? {} }));
}

class Server {
  private backend: Backend | undefined;

  constructor(
    private readonly config: RunConfig,
    private readonly plugins: readonly LoadedInferencePlugin[],
    private readonly io: ServeIo,
    private readonly options: ServeOptions,
  ) {}

  hello(): void {
    const about: JsonObject = {
      server: 'optibench serve',
      backend: this.config.backend.name,
      dtype: this.config.backend.dtype,
      batchSize: this.config.batchSize,
      plugins: pluginFacts(this.plugins),
      ...(this.options.noModel ? { noModel: true } : {}),
    };
    send(this.io, { type: 'hello', protocol: SUT_PROTOCOL, version: SUT_PROTOCOL_VERSION, name: 'optibench-serve', about });
  }

  async load(modelDir: string, cacheDir: string): Promise<void> {
    if (this.options.noModel) {
      send(this.io, { type: 'loaded', about: { noModel: true } });
      return;
    }
    const llama = await readLlamaConfig(modelDir);
    const { build, session } = backendSettings(this.config.backend, this.plugins, modelInfo(llama));
    this.backend = createBackend(this.config.backend.name);
    const info = await this.backend.load({ modelDir, build, session, cacheDir, onProgress: (m) => this.io.log(m) });
    const about: JsonObject = {
      load: { maxLength: info.maxLength, vocabSize: info.vocabSize, cacheHit: info.cacheHit, ...info.details },
      build: build as unknown as JsonObject,
      session: session as unknown as JsonObject,
      plugins: pluginFacts(this.plugins),
    };
    send(this.io, { type: 'loaded', about });
  }

  async pass(pass: number, requests: readonly WireRequest[]): Promise<void> {
    if (this.options.noModel) {
      send(this.io, { type: 'answers', pass, answers: requests.map((r) => ({ id: r.id, logprob: -1, greedy: false })) });
      return;
    }
    if (!this.backend) throw new Error('a pass came before load');
    for (const batch of scheduleRequests(requests, this.config.batchSize, this.plugins)) {
      const answer = await this.backend.loglikelihood(batch);
      send(this.io, { type: 'answers', pass, answers: answer.answers.map((a) => ({ id: a.id, logprob: a.logprob, greedy: a.isGreedy })) });
    }
  }

  async close(): Promise<void> {
    await this.backend?.close();
    this.backend = undefined;
  }
}

/** Serves the protocol on `io` until close or the end of input; returns the exit code. */
export async function serve(configFile: string | undefined, io: ServeIo, options: ServeOptions = {}): Promise<number> {
  let server: Server | undefined;
  try {
    // The model and dataset a config names mean nothing here: the harness sends the model, and the items.
    const { config } = await loadConfig(configFile, {});
    const plugins = options.noModel ? [] : await loadPlugins(config.plugins, config.backend.name);
    server = new Server(config, plugins, io, options);
    server.hello();
    const lines = createInterface({ input: io.input, crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const message = JSON.parse(line) as HarnessMessage;
      if (message.op === 'load') await server.load(message.modelDir, message.cacheDir);
      else if (message.op === 'pass') await server.pass(message.pass, message.requests);
      else if (message.op === 'close') {
        await server.close();
        send(io, { type: 'bye' });
        return 0;
      } else throw new Error(`unknown message ${JSON.stringify((message as { op?: unknown }).op)}`);
    }
    await server.close();
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.log(`error: ${message}`);
    send(io, { type: 'error', message });
    await server?.close().catch(() => {});
    return 1;
  }
}

/**
 * Gives stdout to the protocol alone: whatever else writes to it (a plugin's console.log, a library's
 * warning) goes to stderr, where it cannot be taken for an answer.
 */
export function protocolStdout(): (line: string) => void {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  return (line: string) => void write(line);
}
