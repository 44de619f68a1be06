import * as zlib from 'node:zlib';
import type { HttpRequest } from '@azure/functions';
import { quoteClientText } from '../text/quoteClientText';
import { badRequest, GraphError } from '../errors/graphError';

export const MAX_BODY_BYTES = 16 * 1024;

const tooLarge = (): GraphError =>
  new GraphError(413, 'requestEntityTooLarge', `The request body must not exceed ${MAX_BODY_BYTES} bytes.`);

function isJsonMediaType(contentType: string | null): boolean {
  if (!contentType) return false;
  const mediaType = contentType.split(';', 1)[0].trim().toLowerCase();
  return mediaType === 'application/json';
}

/** The body bytes, at most MAX_BODY_BYTES (413 beyond). Consumes the body: read a clone to parse the body again later. */
export async function readBounded(request: HttpRequest): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  const body = request.body;
  if (!body) return new Uint8Array();
  // Read chunk by chunk so that a body without (or lying about) Content-Length is cut at the limit.
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Refuses what JSON.parse would silently accept in a valid JSON text: a property given twice in one object
 * (JSON.parse keeps the last, so `{"key":"a","key":"b"}` would store whichever came second: ambiguous for a
 * recovery key) and "__proto__" (JSON.parse makes it an own property, which later object spreads or merges
 * could turn into a prototype change; no property of ours has that name). Both at any depth, with names
 * compared after unescaping ("k\u0065y" is "key"). Iterative, so deep nesting cannot exhaust the stack,
 * as JSON.parse's reviver did. Only for text that JSON.parse has accepted.
 */
function refuseAmbiguousKeys(text: string): void {
  // One entry per open container: the names seen so far for an object, undefined for an array.
  const open: (Set<string> | undefined)[] = [];
  let expectingName = false;
  for (let at = 0; at < text.length; at++) {
    const c = text[at];
    if (c === '"') {
      const start = at;
      for (at++; text[at] !== '"'; at++) if (text[at] === '\\') at++;
      const names = open[open.length - 1];
      if (names && expectingName) {
        const name = JSON.parse(text.slice(start, at + 1)) as string;
        if (name === '__proto__') throw badRequest('__proto__ is not a property of bitlockerRecoveryKey.');
        if (names.has(name)) throw badRequest(`The property ${quoteClientText(name)} is given more than once; give each property once.`);
        names.add(name);
        expectingName = false;
      }
    } else if (c === '{') {
      open.push(new Set());
      expectingName = true;
    } else if (c === '[') {
      open.push(undefined);
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === ',') {
      expectingName = open[open.length - 1] !== undefined;
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The content codings a request body may carry (RFC 9110 section 8.4.1), decoded with node:zlib. */
const DECODERS: Readonly<Record<string, (bytes: Uint8Array, options: zlib.ZlibOptions & zlib.BrotliOptions) => Buffer>> = {
  gzip: zlib.gunzipSync,
  'x-gzip': zlib.gunzipSync,
  deflate: zlib.inflateSync,
  br: zlib.brotliDecompressSync,
};

export const ACCEPTED_CODINGS = ['gzip', 'deflate', 'br', 'identity'] as const;

/**
 * Content codings one body may carry. Clients send one (or none); each layer is decoded synchronously,
 * so a thousand nested layers would hold the event loop for every request behind it.
 */
export const MAX_CONTENT_CODINGS = 2;

/**
 * The codings of Content-Encoding, checked before the body is read: one we do not decode is a 415 that names
 * it, with Accept-Encoding listing those we do (RFC 9110 section 15.5.16). decodeContent then undoes them,
 * last applied first. Each step stops inflating one chunk past the size limit (zlib's maxOutputLength), so a small "bomb" that
 * would inflate to gigabytes costs no more than the limit before its 413.
 */
function contentCodings(request: HttpRequest): string[] {
  const codings = (request.headers.get('content-encoding') ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length > MAX_CONTENT_CODINGS) {
    throw new GraphError(
      415,
      'unsupportedMediaType',
      `The body carries ${codings.length} content codings; at most ${MAX_CONTENT_CODINGS} are accepted (one is what clients send).`,
      { 'Accept-Encoding': ACCEPTED_CODINGS.join(', ') },
    );
  }
  for (const coding of codings) {
    if (!DECODERS[coding]) {
      throw new GraphError(
        415,
        'unsupportedMediaType',
        `The content coding ${quoteClientText(coding)} is not supported; send the body as is, or with Content-Encoding gzip, deflate or br.`,
        {
          'Accept-Encoding': ACCEPTED_CODINGS.join(', '),
        },
      );
    }
  }
  return codings;
}

function decodeContent(codings: readonly string[], bytes: Uint8Array): Uint8Array {
  let decoded = bytes;
  for (const coding of [...codings].reverse()) {
    try {
      decoded = DECODERS[coding](decoded, { maxOutputLength: MAX_BODY_BYTES });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
      throw badRequest(`The request body is not valid ${coding} data, as its Content-Encoding says.`);
    }
  }
  return decoded;
}

/**
 * The request's JSON object body: 415 without a JSON content type or with a content coding we do not decode,
 * 413 over the limit (as sent and as decoded), 400 for anything not a JSON object.
 */
export async function readJsonObject(request: HttpRequest): Promise<Record<string, unknown>> {
  if (!isJsonMediaType(request.headers.get('content-type'))) {
    throw new GraphError(415, 'unsupportedMediaType', 'The request body must be sent with Content-Type: application/json.');
  }
  const codings = contentCodings(request);
  const bytes = decodeContent(codings, await readBounded(request));
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw badRequest('The request body is not valid UTF-8.');
  }
  if (text.trim() === '') throw badRequest('The request body is empty; send a JSON object.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
  refuseAmbiguousKeys(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw badRequest('The request body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}
