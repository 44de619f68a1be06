import type { OpenApiDocument } from './types';

/**
 * The document with `servers` set to one origin, e.g. `https://escrow.example.net`, so that an import
 * from its URL (Azure API Management's "from URL") targets that host. `servers` goes right after
 * `info`, where readers look for it.
 */
export function withServer(document: OpenApiDocument, origin: string): OpenApiDocument {
  const { openapi, info, servers: _servers, ...rest } = document;
  return { openapi, info, servers: [{ url: origin }], ...rest };
}
