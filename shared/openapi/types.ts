// The subset of OpenAPI 3.0 that this service's document uses, typed so that a misspelt field is a
// compile error rather than something Azure API Management silently ignores on import.

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface Reference {
  readonly $ref: string;
}

/** Vendor extensions (`x-...`), which OpenAPI allows on most objects. */
export interface Extensible {
  readonly [extension: `x-${string}`]: JsonValue | undefined;
}

export interface SchemaObject extends Extensible {
  readonly type?: 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';
  readonly format?: string;
  readonly pattern?: string;
  readonly enum?: readonly JsonValue[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly default?: JsonValue;
  readonly example?: JsonValue;
  readonly description?: string;
  readonly nullable?: boolean;
  readonly readOnly?: boolean;
  readonly properties?: Readonly<Record<string, SchemaObject | Reference>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | SchemaObject | Reference;
  readonly items?: SchemaObject | Reference;
  readonly oneOf?: readonly (SchemaObject | Reference)[];
  readonly allOf?: readonly (SchemaObject | Reference)[];
}

export interface HeaderObject {
  readonly description?: string;
  readonly required?: boolean;
  readonly schema: SchemaObject | Reference;
}

export interface ParameterObject {
  readonly name: string;
  readonly in: 'query' | 'header' | 'path';
  readonly description?: string;
  readonly required?: boolean;
  readonly schema: SchemaObject | Reference;
  readonly style?: 'form' | 'simple';
  readonly explode?: boolean;
  readonly example?: JsonValue;
}

export interface MediaTypeObject {
  readonly schema: SchemaObject | Reference;
  readonly example?: JsonValue;
}

export type Content = Readonly<Record<string, MediaTypeObject>>;

export interface RequestBodyObject {
  readonly description?: string;
  readonly required?: boolean;
  readonly content: Content;
}

export interface ResponseObject {
  readonly description: string;
  readonly headers?: Readonly<Record<string, HeaderObject | Reference>>;
  readonly content?: Content;
}

export type SecurityRequirement = Readonly<Record<string, readonly string[]>>;

export interface OperationObject extends Extensible {
  readonly operationId: string;
  readonly summary?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly parameters?: readonly (ParameterObject | Reference)[];
  readonly requestBody?: RequestBodyObject | Reference;
  readonly responses: Readonly<Record<string, ResponseObject | Reference>>;
  readonly security?: readonly SecurityRequirement[];
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type HttpMethodName = (typeof HTTP_METHODS)[number];

export type PathItemObject = {
  readonly description?: string;
  readonly parameters?: readonly (ParameterObject | Reference)[];
} & { readonly [method in HttpMethodName]?: OperationObject };

export interface SecuritySchemeObject {
  readonly type: 'http';
  readonly scheme: 'bearer';
  readonly bearerFormat?: string;
  readonly description?: string;
}

export interface Components {
  readonly schemas: Readonly<Record<string, SchemaObject | Reference>>;
  readonly responses: Readonly<Record<string, ResponseObject | Reference>>;
  readonly parameters: Readonly<Record<string, ParameterObject | Reference>>;
  readonly headers: Readonly<Record<string, HeaderObject | Reference>>;
  readonly securitySchemes: Readonly<Record<string, SecuritySchemeObject>>;
}

// A type alias rather than an interface: aliases get an implicit index signature, so the document
// passes as a JSON object to jsonResponse.
export type OpenApiDocument = {
  readonly openapi: '3.0.3';
  readonly info: { readonly title: string; readonly version: string; readonly description?: string };
  readonly servers?: readonly { readonly url: string; readonly description?: string }[];
  readonly tags?: readonly { readonly name: string; readonly description?: string }[];
  readonly paths: Readonly<Record<string, PathItemObject>>;
  readonly components: Components;
  readonly security: readonly SecurityRequirement[];
};

type ComponentKind = 'schemas' | 'responses' | 'parameters' | 'headers';

/** A reference to a component; the component map's own keys type-check the name where it is known. */
export const ref = (kind: ComponentKind, name: string): Reference => ({ $ref: `#/components/${kind}/${name}` });
