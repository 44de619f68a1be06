import type { TokenCredential } from '@azure/identity';
import {
  createDefaultHttpClient,
  createEmptyPipeline,
  createPipelineRequest,
  retryPolicy,
  type HttpClient,
  type Pipeline,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { GraphCallFailed } from './errors';
import { clientHeadersPolicy, graphTokenPolicy } from './policies';
import { boundedThrottlingStrategy } from './retryStrategy';
import { ThrottleGate, throttleGatePolicy } from './throttleGate';

/**
 * A whole Graph call (token, tries and waits) ends within this budget. A device request waits on it,
 * and the device retries on our 503 anyway; Graph answers a device lookup in well under a second.
 */
export const GRAPH_CALL_BUDGET_MS = 8_000;
/** Graph's Retry-After is waited out only up to this; a longer one is passed on to our caller. */
export const GRAPH_MAX_RETRY_WAIT_MS = 3_000;
/** Retries after a throttled answer. */
export const GRAPH_MAX_RETRIES = 2;

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/i;

/**
 * The largest Graph answer read: a page of 1,000 keys or devices is well under 4 MiB. A hostile or broken
 * endpoint's 300 MB page took the mirror to 1.24 GB; beyond this the call fails, the rest unread.
 */
export const GRAPH_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** The body of a streamed response as UTF-8 text, or GraphCallFailed once it passes `maxBytes` (the stream is destroyed). */
async function readBounded(stream: NodeJS.ReadableStream | undefined, maxBytes: number): Promise<string> {
  if (!stream) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > maxBytes) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw new GraphCallFailed(`Microsoft Graph answered with a body larger than ${maxBytes} bytes; not read.`, 200);
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A small Microsoft Graph client over core-rest-pipeline: GET of JSON, with the retries and headers Graph asks of clients. */
export class GraphClient {
  private readonly pipeline: Pipeline;
  private readonly httpClient: HttpClient = createDefaultHttpClient();

  /** `baseUrl` without trailing slash (settings().graphBaseUrl), e.g. https://graph.microsoft.com. */
  constructor(
    readonly baseUrl: string,
    credential: TokenCredential,
    private readonly maxResponseBytes = GRAPH_MAX_RESPONSE_BYTES,
    /** Shared by every call of this client: one Retry-After holds them all. */
    readonly throttle = new ThrottleGate(),
  ) {
    this.pipeline = createEmptyPipeline();
    this.pipeline.addPolicy(clientHeadersPolicy());
    this.pipeline.addPolicy(retryPolicy([boundedThrottlingStrategy(GRAPH_MAX_RETRY_WAIT_MS)], { maxRetries: GRAPH_MAX_RETRIES }), {
      phase: 'Retry',
    });
    // After the retry policy, so that each try (a retry too) waits for the gate.
    this.pipeline.addPolicy(throttleGatePolicy(this.throttle, GRAPH_MAX_RETRY_WAIT_MS), { afterPhase: 'Retry' });
    this.pipeline.addPolicy(graphTokenPolicy(credential), { phase: 'Sign' });
  }

  /**
   * GET `{baseUrl}{pathAndQuery}` (e.g. `/v1.0/devices?$filter=...`) and its JSON body.
   * Throws GraphCallFailed for anything but a 200 with JSON: no answer within the budget, an error
   * status (with Graph's Retry-After when it sent one), or a body that is not JSON.
   */
  async getJson(pathAndQuery: string): Promise<unknown> {
    const url = `${this.baseUrl}${pathAndQuery}`;
    const request = createPipelineRequest({
      url,
      method: 'GET',
      abortSignal: AbortSignal.timeout(GRAPH_CALL_BUDGET_MS),
      allowInsecureConnection: LOOPBACK.test(url),
      // A 200's body is read here, bounded, instead of whole by the pipeline.
      streamResponseStatusCodes: new Set([200]),
    });
    const response = await this.send(request, (status) => status === 200);
    const text = await readBounded(response.readableStreamBody, this.maxResponseBytes);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new GraphCallFailed('Microsoft Graph answered with a body that is not JSON.', response.status);
    }
  }

  /**
   * POST `{baseUrl}{pathAndQuery}` with no body: a Graph action such as Intune's rotateBitLockerKeys,
   * which answers 204. Resolves with the 2xx status; throws GraphCallFailed as getJson does.
   */
  async postAction(pathAndQuery: string): Promise<number> {
    const url = `${this.baseUrl}${pathAndQuery}`;
    const request = createPipelineRequest({
      url,
      method: 'POST',
      abortSignal: AbortSignal.timeout(GRAPH_CALL_BUDGET_MS),
      allowInsecureConnection: LOOPBACK.test(url),
    });
    return (await this.send(request, (status) => status >= 200 && status <= 299)).status;
  }

  /** Sends through the pipeline; GraphCallFailed without an answer or with a status `ok` refuses (with Graph's Retry-After). */
  private async send(request: PipelineRequest, ok: (status: number) => boolean): Promise<PipelineResponse> {
    let response;
    try {
      response = await this.pipeline.sendRequest(this.httpClient, request);
    } catch (error) {
      if (error instanceof GraphCallFailed) throw error;
      throw new GraphCallFailed(`Microsoft Graph did not answer: ${(error as Error).name}.`);
    }
    if (!ok(response.status)) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new GraphCallFailed(
        `Microsoft Graph answered ${response.status}.`,
        response.status,
        Number.isInteger(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      );
    }
    return response;
  }
}
